"""The Dash front end: ids, layout, pure figure builders, thin callbacks. Imports core, never the reverse."""
