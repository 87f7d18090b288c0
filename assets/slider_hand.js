/*
 * Which slider a hand has just let go of. Releasing the eta, eps or seed slider starts a run
 * (auto-run), but a slider's value is also set by callbacks: its box after typing, a link,
 * a preset. Dash's slider cannot tell the two apart (it copies every new value into its
 * drag_value), so the page notes when a pointer or a key lets go of a slider, and the
 * clientside callback HAND_RELEASE (dashboard/page/sync.py) counts a new value as
 * a release only right after that. A slider touched but not moved (a click at its value)
 * leaves a mark: any press elsewhere clears the marks, so a preset or a typed value pressed
 * next is not taken for a release.
 */
(function () {
    "use strict";

    window.wsdLetGo = {};  // slider id -> time (ms) a pointer or a key last let go of it

    // the keys that move a focused slider (Tab and the like only move the focus onto it)
    var MOVES = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"];

    function note(event) {
        var slider = event.target && event.target.closest && event.target.closest(".dash-slider-container");
        if (!slider || !slider.id) {
            window.wsdLetGo = {};  // a hand elsewhere (a preset, a box, a link): no slider is let go
        } else if (event.type !== "keydown" || MOVES.indexOf(event.key) >= 0) {
            window.wsdLetGo[slider.id] = Date.now();
        }
    }

    // capture: noted before the slider itself handles the event and commits its value
    document.addEventListener("pointerdown", note, true);
    document.addEventListener("pointerup", note, true);
    document.addEventListener("keydown", note, true);
})();

/* The log sliders' tooltip while dragging: the round value a release will pick, as
 * dashboard.page.sync.round_125 does (1, 2 or 5 x 10^k nearest on the log scale). */
window.dccFunctions = window.dccFunctions || {};
window.dccFunctions.wsdRound125 = function (position) {
    var decade = Math.floor(position), best = null;
    [1, 2, 5, 10].forEach(function (m) {
        var p = decade + Math.log10(m);
        if (best === null || Math.abs(p - position) < Math.abs(best - position)) { best = p; }
    });
    return String(Number(Math.pow(10, best).toPrecision(3)));
};
