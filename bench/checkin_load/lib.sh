# shellcheck shell=bash disable=SC2034  # (sets RF_* variables for the caller)
# Sourced (not run) by bench/checkin_load/run.sh and bench/cluster_load/run.sh: the nginx reference
# and the reading of wrk's output, defined once.

# rf_nginx_start WORK RESPONSE_BODY WORKERS TLS(0|1): nginx (daemon off, access log off, unlimited
# keep-alive requests) serving RESPONSE_BODY as WORK/www/checkin.json on a free loopback port; with
# TLS=1 over HTTPS with WORK/server.crt and WORK/server.key. Sets RF_NGINX_PID and RF_NGINX_PORT;
# returns when nginx serves the file.
rf_nginx_start() {
  local work=$1 resp=$2 workers=$3 tls=$4
  mkdir -p "$work/www" "$work/nginx"
  printf "%s" "$resp" >"$work/www/checkin.json"
  chmod 755 "$work" "$work/www"; chmod 644 "$work/www/checkin.json"   # nginx workers drop root
  RF_NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes $workers;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$RF_NGINX_PORT $( [ "$tls" = 1 ] && echo ssl );
    $( [ "$tls" = 1 ] && echo "ssl_certificate $work/server.crt; ssl_certificate_key $work/server.key; ssl_protocols TLSv1.2 TLSv1.3;" )
    location / { root $work/www; default_type application/json; }
  }
}
CONF
  /usr/sbin/nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
  RF_NGINX_PID=$!
  local scheme=http curl_tls=() _
  if [ "$tls" = 1 ]; then scheme=https; curl_tls=(--cacert "$work/ca.crt"); fi
  for _ in $(seq 50); do
    [ "$(curl -s "${curl_tls[@]}" "$scheme://127.0.0.1:$RF_NGINX_PORT/checkin.json")" = "$resp" ] && return 0
    sleep 0.1
  done
  echo "nginx is not serving"; cat "$work/nginx/error.log"; return 1
}

# rf_wrk_parse FILE: wrk --latency output -> "requests/s p99_ms non2xx requests_completed".
rf_wrk_parse() {
  awk '/Requests\/sec/ {r=$2}
       /requests in/ {n=$1}
       /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p=v}
       /Non-2xx/ {e=$5}
       END {printf "%s %s %s %s\n", r, p, (e==""?0:e), n}' "$1"
}
