#!/usr/bin/env bash
# Redis memory pressure -> incident -> clear_redis_cache -> verified -> resolved.
exec "$(dirname "$0")/remediation-drill.sh" redis-test "$@"
