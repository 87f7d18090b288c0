"""Jobs without their pages: the records they leave (records), the computations (compute), each
kind's checked plan and cost (plans), admission to a slot and the cache (runner), and the
life of a job between a page and the server (flow, the one part that speaks Dash)."""
