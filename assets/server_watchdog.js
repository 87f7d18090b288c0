/*
 * A job's page carries on by itself after the server went away mid-job (restarted, redeployed).
 *
 * While a background job runs, dash-renderer polls the server (handleServerside in
 * dash_renderer.dev.js, dash 4.4.1). A poll that gets no answer at all (fetch rejects: the
 * server is down) rejects the callback without applying its `running` off-values and without
 * polling again: Run stays disabled, Cancel enabled, nothing more happens and nothing says
 * why. A poll answered 502/503/504 (a proxy before a restarting server) ends the chain too,
 * with the buttons reset but the run's result never coming.
 *
 * This script watches the page's requests (a wrapper around window.fetch). It learns which
 * callbacks are background jobs from the callback list the renderer loads (_dash-dependencies:
 * their `background`, `running`), keeps each job's last request (its input: the job's pending
 * request), and when one of that job's requests fails it says so on the page, asks GET
 * /health until the server answers, then sets the job's input again
 * (dash_clientside.set_props) with a mark, so the job is requested anew and not answered
 * from the old job's Dash entry: a run that finished meanwhile comes from the results cache,
 * one that did not starts again (the renderer sends the dead chain's job as `oldJob`, and the
 * server stops that process if it still runs). Where that cannot be done, the page says to
 * reload and the job's buttons are reset. Any other request that failed only shows the notice
 * until the server answers.
 */
(function () {
    "use strict";

    var NOTICE = "server-notice";  // dashboard/page/ids.py SERVER_NOTICE
    var AWAY = "The server is not answering (it may be restarting): this page carries on by itself when it is back.";
    var RELOAD = "The server restarted; reload the page — your run is kept.";
    var GATEWAY = [502, 503, 504];  // a proxy's answers while the server behind it restarts
    var FIRST_CHECK_MS = 500, LAST_CHECK_MS = 4000;  // how often /health is asked, growing

    var jobs = {};  // callback id -> {spec: its callback spec, inputs: its last request's inputs}
    var lost = {};  // callback id -> true: a request of its job failed
    var checking = false;
    var leaving = false;  // the page is being left: its aborted requests say nothing of the server
    window.addEventListener("pagehide", function () { leaving = true; });
    window.addEventListener("beforeunload", function () { leaving = true; });
    var fetchOriginal = window.fetch.bind(window);

    function urlOf(resource) {
        return typeof resource === "string" ? resource : (resource && resource.url) || String(resource);
    }

    function parsed(body) {
        try { return typeof body === "string" ? JSON.parse(body) : null; } catch (e) { return null; }
    }

    function learn(specs) {
        (Array.isArray(specs) ? specs : []).forEach(function (spec) {
            if (spec && spec.background) { jobs[spec.output] = {spec: spec, inputs: null}; }
        });
    }

    function setProps(id, props) {
        var api = window.dash_clientside && window.dash_clientside.set_props;
        if (!api) { return false; }
        api(id, props);
        return true;
    }

    function notice(text) {
        setProps(NOTICE, {children: text});
    }

    function idOf(key) {  // "run.disabled" -> ["run", "disabled"]; a pattern id is JSON
        var dot = key.lastIndexOf(".");
        var id = key.slice(0, dot);
        return [id.charAt(0) === "{" ? JSON.parse(id) : id, key.slice(dot + 1)];
    }

    function giveUp(job) {
        var off = (job && job.spec.running && job.spec.running.runningOff) || {};
        Object.keys(off).forEach(function (key) {
            var target = idOf(key), props = {};
            props[target[1]] = off[key];
            setProps(target[0], props);
        });
        notice(RELOAD);
    }

    function resume(callbackId) {
        var job = jobs[callbackId];
        var inputs = job && job.inputs;
        if (!inputs || !window.dash_clientside || !window.dash_clientside.set_props ||
            !inputs.every(function (i) { return i && !Array.isArray(i) && i.id !== undefined; })) {
            giveUp(job);
            return;
        }
        inputs.forEach(function (input) {
            var value = input.value, props = {};
            if (value && typeof value === "object" && !Array.isArray(value)) {
                // a new request, not the dead one's Dash entry (an abandoned job left its
                // partial answer there)
                value = Object.assign({}, value, {resumed: Date.now()});
            }
            props[input.property] = value;
            setProps(input.id, props);
        });
    }

    function back() {
        checking = false;
        notice("");
        var ids = Object.keys(lost);
        lost = {};
        ids.forEach(resume);
    }

    function check(delay) {
        setTimeout(function () {
            var config = parsed((document.getElementById("_dash-config") || {}).textContent) || {};
            var url = (config.requests_pathname_prefix || "/") + "health";
            fetchOriginal(url, {cache: "no-store"}).then(function (res) {
                // 503: up, but a store it cannot use (app.py); 404: an app without /health
                if (res.status < 500) { back(); } else { check(Math.min(2 * delay, LAST_CHECK_MS)); }
            }, function () {
                check(Math.min(2 * delay, LAST_CHECK_MS));
            });
        }, delay);
    }

    function away(callbackId) {
        if (callbackId !== undefined) { lost[callbackId] = true; }
        notice(AWAY);
        if (!checking) {
            checking = true;
            check(FIRST_CHECK_MS);
        }
    }

    window.fetch = function (resource, init) {
        var url = urlOf(resource);
        var answer = fetchOriginal(resource, init);
        var path = url.split("?")[0];
        if (/_dash-dependencies$/.test(path)) {
            answer.then(function (res) {
                if (res.ok) { res.clone().json().then(learn, function () {}); }
            }, function () {});
            return answer;
        }
        if (!/_dash-update-component$/.test(path)) { return answer; }
        var payload = parsed(init && init.body);
        var callbackId = payload ? payload.output : undefined;
        var job = jobs[callbackId];
        if (job && url.indexOf("cacheKey=") < 0) {
            job.inputs = payload.inputs;  // the job's request, with its input's value (a poll's are blanked)
        }
        return answer.then(function (res) {
            if (job && GATEWAY.indexOf(res.status) >= 0) { away(callbackId); }
            return res;
        }, function (error) {
            if (!leaving && !(error && error.name === "AbortError")) { away(job ? callbackId : undefined); }
            throw error;
        });
    };
})();
