"""Component ids, written once and imported everywhere (layout, callbacks, tests)."""

URL = "url"
VALID = "valid"  # the last valid control values
WRITTEN_QUERY = "written-query"  # the query the app itself last put in the URL
TABS = "view"

# controls (the query-string name of each is in dashboard.state.rules.QUERY)
ETA = "eta"
ETA_SLIDER = "eta-slider"
EPS = "eps"
EPS_SLIDER = "eps-slider"
RELEASED = "released-slider"  # the slider a hand last let go of, and where (auto-run)
SEED = "seed"
PERTURBATIONS = "perturbations"
STEPS = "steps"
HIDDEN = "hidden"
ACTIVATION = "activation"
OUTPUT = "output"
INIT = "init"
DISTANCE = "distance"
OPTIMIZER = "optimizer"
MOMENTUM = "momentum"  # beta of momentum and nesterov, Adam's beta1; off for gd
MOMENTUM_HINT = "momentum-hint"  # what the box means for the optimizer chosen
BATCH = "batch"  # mini-batch size; empty or "full": the full batch
BATCH_HINT = "batch-hint"  # the largest batch of the data set chosen
BATCH_SEED = "batch_seed"  # seed of the batch order; off for the full batch
BATCH_SEED_HINT = "batch_seed-hint"
NORMALIZED = "normalized"
CONTROL_ERROR = "control-error"  # pattern id: {"type": CONTROL_ERROR, "field": name}
URL_MESSAGE = "url-message"

PRESET = "preset"  # pattern id: {"type": PRESET, "name": key}
PRESET_NOTE = "preset-note"

RUN = "run"
CANCEL = "cancel"
PROGRESS = "progress"
PROGRESS_LABEL = "progress-label"
RUN_MESSAGE = "run-message"
STALE_NOTE = "stale-note"  # the settings differ from the plots on screen
AUTORUN = "autorun"
# where the page says that the server is not answering, or to reload: written by
# assets/server_watchdog.js only (a job's requests failed: the server went away mid-job)
SERVER_NOTICE = "server-notice"
PENDING = "pending"  # the request of a run the cache could not answer: starts the background job
RESULT = "result"  # the request of the finished run the views draw

# views
DISTANCE_GRAPH = "distance-graph"
SUMMARY = "summary"
SWEEP_RUN = "sweep-run"
SWEEP_CANCEL = "sweep-cancel"
SWEEP_PROGRESS = "sweep-progress"
SWEEP_MESSAGE = "sweep-message"
SWEEP_PENDING = "sweep-pending"
EPS_PANELS_GRAPH = "eps-panels-graph"
COLLAPSE_GRAPH = "collapse-graph"

FIT_GRAPH = "fit-graph"
FTLE_INITS = "ftle-inits"
FTLE_STEPS = "ftle-steps"
FTLE_RUN = "ftle-run"
FTLE_CANCEL = "ftle-cancel"
FTLE_PROGRESS = "ftle-progress"
FTLE_MESSAGE = "ftle-message"
FTLE_PENDING = "ftle-pending"
FTLE_EPS_GRAPH = "ftle-eps-graph"
FTLE_HIST_GRAPH = "ftle-hist-graph"
FTLE_HIST_EPS = "ftle-hist-eps"
FTLE_STORE = "ftle-store"  # the request of the finished FTLE sweep

ORBITAL_T0 = "orbital-t0"
ORBITAL_RUN = "orbital-run"
ORBITAL_CANCEL = "orbital-cancel"
ORBITAL_PROGRESS = "orbital-progress"
ORBITAL_MESSAGE = "orbital-message"
ORBITAL_PENDING = "orbital-pending"
ORBITAL_GRAPH = "orbital-graph"

ABLATION_W1_GRAPH = "ablation-w1-graph"
ABLATION_W2_GRAPH = "ablation-w2-graph"
# a deeper network's maps beyond W2, W3 .. W5 (4 hidden layers at most: core.config.MAX_DEPTH),
# each in a slot shown only when the run has that matrix, all in a part shown only for such a run
ABLATION_DEEPER_GRAPHS = ("ablation-w3-graph", "ablation-w4-graph", "ablation-w5-graph")
ABLATION_DEEPER_SLOTS = ("ablation-w3-slot", "ablation-w4-slot", "ablation-w5-slot")
ABLATION_DEEPER = "ablation-deeper"
DISPLACEMENT_GRAPH = "displacement-graph"
NORM_GRAPH = "norm-graph"

DATA_GRAPH = "data-graph"
DATA_X = "data-x"
DATA_Y = "data-y"
DATA_SUMMARY = "data-summary"
DATA_INTRO = "data-intro"
DATA_AXES = "data-axes"

EXPORT_CSV = "export-csv"
EXPORT_NPZ = "export-npz"
EXPORT_JSON = "export-json"
DOWNLOAD = "download"
IMAGE_FORMAT = "image-format"

DATASET = "dataset"

# the Regimes view (its settings are also URL parameters: dashboard.state.rules.MAP_RULES)
MAP_KIND = "map"
ETA_MIN = "eta_min"
ETA_MAX = "eta_max"
ETA_POINTS = "eta_points"
MAP_INITS = "inits"
MAP_STEPS = "map_steps"
MAP_VALUE = "map_value"  # what a 2-D map's points show
MAP_AXIS = "map_axis"  # a setting map's second axis, typed ("" = the kind's own)
MAP_EXPORT = "map-export"  # CSV of the finished map
MAP_DOWNLOAD = "map-download"
MAP_RUN = "map-run"
MAP_CANCEL = "map-cancel"
MAP_ZOOM = "map-zoom"
MAP_ZOOM_OUT = "map-zoom-out"
MAP_ZOOM_NOTE = "map-zoom-note"  # what the zoom on screen covers
MAP_PROGRESS = "map-progress"
MAP_MESSAGE = "map-message"
MAP_PENDING = "map-pending"
MAP_STORE = "map-store"  # the request of the finished map (zoom and clicks read it)
MAP_GRAPH = "map-graph"
CURVATURE_GRAPH = "curvature-graph"

# the Chaos view
CHAOS_ETA = "chaos-eta"
CHAOS_STEPS = "chaos-steps"
CHAOS_RUN = "chaos-run"
CHAOS_CANCEL = "chaos-cancel"
CHAOS_PROGRESS = "chaos-progress"
CHAOS_MESSAGE = "chaos-message"
CHAOS_PENDING = "chaos-pending"
CHAOS_LOSS_GRAPH = "chaos-loss-graph"
CHAOS_ACF_GRAPH = "chaos-acf-graph"
CHAOS_RATES_GRAPH = "chaos-rates-graph"
CHAOS_WEIGHTS_GRAPH = "chaos-weights-graph"
CHAOS_SUMMARY = "chaos-summary"
SPECTRUM_RUN = "spectrum-run"  # the Chaos view's tangent spectrum of its long run's reference network
SPECTRUM_CANCEL = "spectrum-cancel"
SPECTRUM_PROGRESS = "spectrum-progress"
SPECTRUM_MESSAGE = "spectrum-message"
SPECTRUM_PENDING = "spectrum-pending"
SPECTRUM_GRAPH = "spectrum-graph"
SPECTRUM_SUMMARY = "spectrum-summary"
SEED_SLIDER = "seed-slider"
AUTO_RUN_SWITCH = "auto-run"  # on: releasing the eta or eps slider or changing the seed starts the run
FTLE_TABLE = "ftle-table"  # per eps: mean, bootstrap CI, kept, global rate
CLI_COMMAND = "cli-command"  # the current settings as a cli.py command line
SWEEP_STORE = "sweep-store"  # the request of the finished eps comparison (its export reads it)
SWEEP_EXPORT = "sweep-export"
SWEEP_DOWNLOAD = "sweep-download"
FTLE_EXPORT = "ftle-export"
FTLE_DOWNLOAD = "ftle-download"
WEIGHTS_SUMMARY = "weights-summary"
