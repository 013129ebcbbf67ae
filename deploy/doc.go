// Package deploy holds no code. Its tests check the deployment artifacts
// (the Dockerfile and .dockerignore, docker-compose.yml and deploy/compose,
// deploy/kubernetes, deploy/prometheus, the Makefile's image target) against
// the binaries they run and the sources they name.
package deploy
