# Image of the API, the worker and beat for docker-compose.yml.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY webapp/assets/package.json webapp/assets/package-lock.json webapp/assets/
RUN cd webapp/assets && npm ci --ignore-scripts --no-audit --no-fund
COPY . .
ENV BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
