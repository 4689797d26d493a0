/* options.c - getopt_long parsing and validation of every flag. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#include "resize.h"
#include "version.h"

static const char usage[] =
    "Usage: rail-server [OPTION]...\n"
    "Serve HTTP/1.1 from a document root, every handler on a rail worker pool.\n"
    "\n"
    "  -l, --listen ADDR:PORT       listen here (default 127.0.0.1:7878; [::1]:PORT for IPv6;\n"
    "                               port 0 picks a free port, printed at start)\n"
    "  -t, --threads N              pool workers (default: online CPUs)\n"
    "  -q, --queue N                pool queue bound; a full queue answers 503 (default 1024)\n"
    "  -r, --root DIR               document root (default public)\n"
    "      --access-log FILE|-|off  Combined Log Format lines (default -, standard output)\n"
    "      --sleep-ms MS            how long /sleep holds a worker (default 5000)\n"
    "      --max-body BYTES         largest request body; larger gets 413 (default 10485760)\n"
    "      --header-timeout MS      a request head must arrive within this; else 408 (default "
    "10000)\n"
    "      --idle-timeout MS        close keep-alive connections idle this long (default 5000)\n"
    "      --max-connections N      open client connections at most (default 10000)\n"
    "      --shutdown-timeout MS    after SIGTERM/SIGINT, exit 1 if requests still run (default "
    "30000)\n"
    "      --images DIR             where GET /resize?src= finds images (default: the root)\n"
    "      --max-pixels N           refuse (422) images whose header declares more pixels\n"
    "                               (default 50000000)\n"
    "      --resize-timeout MS      a resize running or queued longer gets 503 (default 10000)\n"
    "      --cache-max-age N        Cache-Control max-age of GET /resize answers, seconds\n"
    "                               (default 31536000)\n"
    "  -h, --help                   this text\n"
    "  -V, --version                the version\n";

enum {
    OPT_ACCESS_LOG = 256,
    OPT_SLEEP,
    OPT_MAX_BODY,
    OPT_HEADER_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_MAX_CONNECTIONS,
    OPT_SHUTDOWN_TIMEOUT,
    OPT_IMAGES,
    OPT_MAX_PIXELS,
    OPT_RESIZE_TIMEOUT,
    OPT_CACHE_MAX_AGE
};

static const struct option longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"threads", required_argument, NULL, 't'},
    {"queue", required_argument, NULL, 'q'},
    {"root", required_argument, NULL, 'r'},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"sleep-ms", required_argument, NULL, OPT_SLEEP},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
    {"images", required_argument, NULL, OPT_IMAGES},
    {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
    {"resize-timeout", required_argument, NULL, OPT_RESIZE_TIMEOUT},
    {"cache-max-age", required_argument, NULL, OPT_CACHE_MAX_AGE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "rail-server: invalid %s: '%s' (see --help)\n", what, value);
    return -1;
}

/* A decimal number in [min, max], nothing else. */
static int number(const char *s, unsigned long long min, unsigned long long max, const char *what,
                  unsigned long long *out)
{
    if (*s < '0' || *s > '9')
        return bad(what, s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return bad(what, s);
    *out = v;
    return 0;
}

static int listen_address(const char *s, struct server_config *cfg)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return bad("--listen (want ADDR:PORT)", s);
    const char *host = s;
    size_t host_len = (size_t)(colon - s);
    if (host_len >= 2 && s[0] == '[' && s[host_len - 1] == ']') { /* [v6]:port */
        host++;
        host_len -= 2;
    } else if (memchr(s, ':', host_len)) {
        return bad("--listen (write IPv6 as [ADDR]:PORT)", s);
    }
    unsigned long long port;
    if (host_len == 0 || host_len >= sizeof cfg->host ||
        number(colon + 1, 0, 65535, "--listen port", &port) != 0)
        return host_len == 0 || host_len >= sizeof cfg->host ? bad("--listen address", s) : -1;
    memcpy(cfg->host, host, host_len);
    cfg->host[host_len] = '\0';
    cfg->port = (int)port;
    return 0;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

enum options_result options_parse(int argc, char **argv, struct server_config *cfg)
{
    *cfg = (struct server_config){
        .host = "127.0.0.1",
        .port = 7878,
        .threads = online_cpus(),
        .queue = 1024,
        .root = "public",
        .access_log = "-",
        .sleep_ms = 5000,
        .max_body = 10u << 20,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 5000,
        .shutdown_timeout_ms = 30000,
        .max_connections = 10000,
        .max_pixels = 50000000,
        .resize_timeout_ms = 10000,
        .cache_max_age = 31536000,
    };
    opterr = 0; /* our own one-line messages */
    int opt;
    while ((opt = getopt_long(argc, argv, ":l:t:q:r:hV", longopts, NULL)) != -1) {
        unsigned long long v = 0;
        int rc = 0;
        switch (opt) {
        case 'l':
            rc = listen_address(optarg, cfg);
            break;
        case 't':
            if ((rc = number(optarg, 1, RAIL_MAX_THREADS, "--threads", &v)) == 0)
                cfg->threads = (unsigned)v;
            break;
        case 'q':
            if ((rc = number(optarg, 1, 1u << 24, "--queue", &v)) == 0)
                cfg->queue = (size_t)v;
            break;
        case 'r':
            cfg->root = optarg;
            break;
        case OPT_ACCESS_LOG:
            cfg->access_log = strcmp(optarg, "off") == 0 ? NULL : optarg;
            break;
        case OPT_SLEEP:
            if ((rc = number(optarg, 0, 3600000, "--sleep-ms", &v)) == 0)
                cfg->sleep_ms = (unsigned)v;
            break;
        case OPT_MAX_BODY:
            if ((rc = number(optarg, 0, (unsigned long long)1 << 32, "--max-body", &v)) == 0)
                cfg->max_body = (size_t)v;
            break;
        case OPT_HEADER_TIMEOUT:
            if ((rc = number(optarg, 1, 3600000, "--header-timeout", &v)) == 0)
                cfg->header_timeout_ms = (unsigned)v;
            break;
        case OPT_IDLE_TIMEOUT:
            if ((rc = number(optarg, 1, 3600000, "--idle-timeout", &v)) == 0)
                cfg->idle_timeout_ms = (unsigned)v;
            break;
        case OPT_MAX_CONNECTIONS:
            if ((rc = number(optarg, 1, 1000000, "--max-connections", &v)) == 0)
                cfg->max_connections = (unsigned)v;
            break;
        case OPT_SHUTDOWN_TIMEOUT:
            if ((rc = number(optarg, 1, 3600000, "--shutdown-timeout", &v)) == 0)
                cfg->shutdown_timeout_ms = (unsigned)v;
            break;
        case OPT_IMAGES:
            cfg->images = optarg;
            break;
        case OPT_MAX_PIXELS:
            if ((rc = number(optarg, 1, 1ull << 40, "--max-pixels", &v)) == 0)
                cfg->max_pixels = v;
            break;
        case OPT_RESIZE_TIMEOUT:
            if ((rc = number(optarg, 1, 3600000, "--resize-timeout", &v)) == 0)
                cfg->resize_timeout_ms = (unsigned)v;
            break;
        case OPT_CACHE_MAX_AGE:
            if ((rc = number(optarg, 0, 1u << 31, "--cache-max-age", &v)) == 0)
                cfg->cache_max_age = (unsigned long)v;
            break;
        case 'h':
            fputs(usage, stdout);
            return OPTIONS_EXIT_OK;
        case 'V':
            resize_init();
            printf("rail-server %s (libuv %s, llhttp %d.%d.%d, libvips %s)\n", RAIL_SERVER_VERSION,
                   uv_version_string(), LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
                   LLHTTP_VERSION_PATCH, resize_engine_version());
            return OPTIONS_EXIT_OK;
        case ':':
            fprintf(stderr, "rail-server: option '%s' needs a value (see --help)\n",
                    argv[optind - 1]);
            return OPTIONS_EXIT_USAGE;
        default:
            fprintf(stderr, "rail-server: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return OPTIONS_EXIT_USAGE;
        }
        if (rc != 0)
            return OPTIONS_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "rail-server: unexpected argument '%s' (see --help)\n", argv[optind]);
        return OPTIONS_EXIT_USAGE;
    }
    return OPTIONS_RUN;
}
