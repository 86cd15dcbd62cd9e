#!/usr/bin/env bash
# The GPU validation campaign lives in tools/gpu_campaign.sh; this path is kept for the instructions that name it.
exec bash "$(dirname "$0")/../tools/gpu_campaign.sh" "$@"
