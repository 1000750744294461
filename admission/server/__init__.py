"""The webhook server: the Flask app, gunicorn and TLS, the live policy state, logs and metrics."""
