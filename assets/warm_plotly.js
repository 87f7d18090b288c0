/*
 * Warm up Plotly once the page is idle: draw (off screen) a figure shaped like the
 * distance figure -- 20 grey lines of 500 points with gaps, a black mean and a dashed
 * loss on a right-hand axis over a log axis -- then remove it. The browser compiles
 * Plotly's drawing code on this throw-away figure, so the first real one (a run's first
 * live update, or a replay from the cache) is drawn sooner: a replay's median went from
 * 0.19 to 0.16 s in headless Chromium on 2 cores (scripts/bench_browser.py).
 */
(function () {
    "use strict";

    function warm() {
        var div = document.createElement("div");
        div.style.cssText = "position:absolute;left:-10000px;top:0;width:800px;height:400px";
        document.body.appendChild(div);
        var xs = [], ys = [], x = [], mean = [], loss = [];
        for (var j = 0; j < 20; j++) {
            for (var i = 0; i < 500; i++) {
                xs.push(10 * i);
                ys.push(1e-8 * (1 + 0.1 * Math.sin(i / 7 + j)));
            }
            xs.push(NaN);
            ys.push(NaN);
        }
        for (var k = 0; k < 1000; k++) {
            x.push(5 * k);
            mean.push(1e-8 * (1 + k / 1000));
            loss.push(1 / (1 + k));
        }
        var data = [
            {x: new Float32Array(xs), y: new Float32Array(ys), mode: "lines", hoverinfo: "skip"},
            {x: x, y: mean, mode: "lines"},
            {x: x, y: loss, mode: "lines", yaxis: "y2", line: {dash: "dash"}}
        ];
        var layout = {yaxis: {type: "log"}, yaxis2: {overlaying: "y", side: "right"}};
        function cleanUp() {
            window.Plotly.purge(div);
            div.remove();
        }
        try {
            window.Plotly.newPlot(div, data, layout).then(function () {
                cleanUp();
                document.body.dataset.plotlyWarm = "done";  // for the browser tests
            }, cleanUp);
        } catch (error) {
            cleanUp();  // a warm-up is never worth an error
        }
    }

    // Dash loads Plotly with the first graph; wait for it and for a quiet moment.
    var tries = 0;
    function whenReady() {
        if (window.Plotly && document.querySelector(".js-plotly-plot")) {
            (window.requestIdleCallback || window.setTimeout)(warm);
        } else if (++tries < 100) {
            window.setTimeout(whenReady, 100);
        }
    }
    window.addEventListener("load", whenReady);
})();
