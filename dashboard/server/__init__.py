"""What serving a class needs: settings from the environment, admission and fair queues,
visitors, the on-disk stores, hardened responses, the background-job managers and the
Celery worker's tasks."""
