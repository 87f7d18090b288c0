"""The page around the views: the layout, the controls and the callbacks that keep them, the
URL and the jobs in step (sync), exports, and the ids and components every view shares."""
