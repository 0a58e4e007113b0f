FROM node:20
RUN npm ci --omit=dev
RUN npm install -g pnpm@9.1.0
