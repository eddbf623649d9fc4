/* One line per request on stderr: method, path, status, input tokens, milliseconds;
 * plain text or one JSON object (--log-format). One fprintf per line: stdio's lock
 * keeps lines from different connection threads whole. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server.h"

void log_request(const char *method, const char *path, int status, size_t tokens, double ms) {
    if (g_srv.cfg.log_off) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[80];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (!g_srv.cfg.log_json) {
        fprintf(stderr, "%s %s %s %d %zu tokens %.2f ms\n", when, method, path, status, tokens, ms);
        return;
    }
    jbuf b = {0};
    jb_printf(&b, "{\"time\":\"%s\",\"method\":", when);
    jb_string(&b, method, strlen(method));
    jb_puts(&b, ",\"path\":");
    jb_string(&b, path, strlen(path));
    jb_printf(&b, ",\"status\":%d,\"tokens\":%zu,\"ms\":%.3f}\n", status, tokens, ms);
    if (b.p) fputs(b.p, stderr);
    jb_free(&b);
}
