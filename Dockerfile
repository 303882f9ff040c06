# syntax=docker/dockerfile:1
# gpu-scaler as an image (README: "Running in production").
#   docker build -t gpu-scaler .
#   docker run -v gpu-scaler-data:/var/lib/gpu-scaler gpu-scaler                 # the service (CMD start)
#   docker run -e DATABASE_URL=postgres://… gpu-scaler explain --at 18:25         # any other command
# Checked without a Docker engine: test/deploy/dockerfile.test.ts parses this file, and
# `npm run image:dry-run` (scripts/image-dry-run.js) performs the run stage's COPY and npm ci steps
# in a temporary directory and starts the service from there.

# Build: all dependencies, the TypeScript compiler, dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build is the next step.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY events ./events
COPY projections ./projections
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# Run: production dependencies, the compiled output, the bin and the migrations. No compiler, no
# sources, no tests.
FROM node:24-bookworm-slim AS run
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="gpu-scaler" \
      org.opencontainers.image.description="Event-sourced scaling controller for fleets of GPU workers" \
      org.opencontainers.image.source="https://github.com/gpu-scaler/gpu-scaler" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which a production install does not have.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/events ./dist/events
COPY --from=build /app/dist/projections ./dist/projections
COPY bin ./bin
COPY migrations ./migrations
# `gpu-scaler` on the PATH (for `docker exec … gpu-scaler status`), and the working directory the
# relative defaults land in: the embedded store (./.gpu-scaler/db), LOG_FILE, DB_LOGGING_ERRORS_FILE.
RUN ln -s /app/bin/gpu-scaler.js /usr/local/bin/gpu-scaler \
 && mkdir -p /var/lib/gpu-scaler \
 && chown 1000:1000 /var/lib/gpu-scaler
# The official image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
WORKDIR /var/lib/gpu-scaler
VOLUME ["/var/lib/gpu-scaler"]
# Exec form: node is PID 1 and gets docker stop's SIGTERM itself (the service stops after the
# current cycle, exit 143). The heap limit is src/util/node-flags.ts's.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-old-space-size=1024", "/app/bin/gpu-scaler.js"]
CMD ["start"]
