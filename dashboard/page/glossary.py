"""The words a student meets on the page, with what each means: shown as hover help (an
``<abbr>`` with a dotted underline) wherever an explanation uses them. No Dash callbacks."""

from __future__ import annotations

import re

from dash import html

GLOSSARY = {
    "FTLE": "finite-time Lyapunov exponent: how fast nearby networks separate, per iteration (natural "
    "log). The slope of ln <d(t)> on its best straight stretch; positive means exponential separation.",
    "R²": "how straight the fitted stretch of ln <d(t)> is: 1 is a perfect line. A fit counts only when "
    "R² > 0.9 and its slope > 0.05.",
    "kept": "a fit that counts as exponential growth (R² > 0.9 and slope > 0.05); the others are left out of the mean.",
    "ε N_w": "the size of the first nudge: ε times the number of weights N_w. The distance divided by it "
    "starts near 0.5 for nudges drawn uniformly in (-ε, ε).",
    "orbit diagram": "the last losses of one long run at each learning rate, one dot per iteration: one "
    "dot for a fixed point, p dots for a cycle of period p, a band for chaos.",
    "λ_max": "the largest eigenvalue of the loss's Hessian (the sharpness): gradient descent with step η "
    "is stable in a valley only while λ_max < 2/η.",
    "sharpness": "the largest eigenvalue λ_max of the loss's Hessian: gradient descent with step η is "
    "stable in a valley only while it stays below 2/η.",
    "tangent exponent": "the growth rate, per iteration (natural log), of an infinitesimal nudge carried "
    "by each training step's Jacobian, averaged over the whole run; λ₁, the leading one, is the fastest.",
    "Lyapunov spectrum": "all the tangent exponents, largest first: how fast each independent direction of "
    "an infinitesimal nudge grows (positive) or shrinks (negative) per iteration.",
    "hidden layers": "the network's layers between the inputs and the outputs, given by their widths: 10 is "
    "the paper's one layer of 10 units (4-10-3 on Iris), 10 10 two layers of 10 (4-10-10-3); 1 to 4 layers. "
    "A deeper network has one weight matrix more per layer, W1 (inputs → first layer) to the last (→ classes).",
    "Kaplan-Yorke dimension": "j plus the sum of the j largest exponents divided by the size of the next one, "
    "j the most leading exponents whose sum is not negative: roughly the dimension of what training settles on.",
}
# whole words only ("kept", not "unkept"), the longest first
_PATTERN = re.compile(r"(?<!\w)(" + "|".join(sorted(map(re.escape, GLOSSARY), key=len, reverse=True)) + r")(?!\w)")


def with_terms(text: str) -> list:
    """``text`` as children where each glossary word carries its meaning as hover help."""
    parts, start = [], 0
    for found in _PATTERN.finditer(text):
        parts += [text[start : found.start()], html.Abbr(found.group(), title=GLOSSARY[found.group()])]
        start = found.end()
    return [p for p in [*parts, text[start:]] if p != ""]
