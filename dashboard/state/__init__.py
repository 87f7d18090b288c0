"""The page's settings without Dash: each control's rule and the limits (rules), the URL query
(query) and the presets (presets)."""
