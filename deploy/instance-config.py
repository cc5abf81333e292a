# LooksLike settings for docker-compose.yml, mounted as instance/config.py (Python assignments;
# every key and its default is in app/config.py). New gunicorn workers read this file when they
# start, so `docker compose kill -s HUP app` applies a change (e.g. a new gallery) without a restart.
# LOOKSLIKE_* variables in docker-compose.yml win over this file.

GALLERY = "demo"
