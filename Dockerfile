# syntax=docker/dockerfile:1
# One image for every firstmile component; the command picks it: edge, origin, control or up.
# Node runs the TypeScript sources directly (type stripping), so nothing is compiled: the build
# stage only installs the production dependencies of the firstmile command and its workspace
# packages. test/chart/image.test.ts reproduces these steps outside Docker and starts every command
# from the result, read-only.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
ENV CI=true
RUN npm install --global --no-audit --no-fund --loglevel=error pnpm@10.34.9
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY libs ./libs
COPY services ./services
# Not `pnpm deploy`: it copies workspace packages into node_modules, and Node refuses to strip types
# from files under node_modules. A filtered install keeps them in place, linked.
RUN pnpm install --frozen-lockfile --prod --filter "firstmile..."

FROM ${NODE_IMAGE}
# MALLOC_ARENA_MAX and the ENTRYPOINT's Node flags: services/firstmile/src/node-runtime.ts says why.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2
WORKDIR /app
# Owned by root and not writable by the process: the root filesystem can be mounted read-only
# (nothing is written at run time; NODE_COMPILE_CACHE stays unset).
COPY --from=build /app /app
# The node image's unprivileged user, numeric so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 1935 1936 8080
ENTRYPOINT ["node", "--max-semi-space-size=2", "services/firstmile/src/bin.ts"]
CMD ["up"]
