"""The glossary's hover help: each word a student meets carries its meaning."""

from dash import html

from dashboard.page.glossary import GLOSSARY, with_terms


def test_glossary_words_carry_their_meaning_and_the_rest_stays_text():
    parts = with_terms("The FTLE of this run (R² 0.95, kept): unkept sharpness over 2/η; orbit diagram.")
    terms = [p for p in parts if isinstance(p, html.Abbr)]
    assert [t.children for t in terms] == ["FTLE", "R²", "kept", "sharpness", "orbit diagram"]
    assert all(t.title == GLOSSARY[t.children] for t in terms)
    assert "".join(p if isinstance(p, str) else p.children for p in parts).startswith("The FTLE of this run")
    assert "unkept" in "".join(p for p in parts if isinstance(p, str))  # whole words only


def test_every_term_a_student_needs_is_explained():
    assert {"FTLE", "R²", "kept", "ε N_w", "orbit diagram", "λ_max"} <= set(GLOSSARY)
    assert {"tangent exponent", "Lyapunov spectrum", "Kaplan-Yorke dimension"} <= set(GLOSSARY)
    assert all(len(meaning) > 40 for meaning in GLOSSARY.values())
