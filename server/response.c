/* response.c - response building, status reasons, HTTP dates. */
#include "response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

int response_header(struct response *resp, const char *name, const char *fmt, ...)
{
    size_t room = sizeof resp->extra - resp->extra_len;
    int n = snprintf(resp->extra + resp->extra_len, room, "%s: ", name);
    if (n < 0 || (size_t)n >= room)
        goto too_long;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(resp->extra + resp->extra_len + n, room - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m + 2) >= room)
        goto too_long;
    memcpy(resp->extra + resp->extra_len + n + m, "\r\n", 2);
    resp->extra_len += (size_t)(n + m + 2);
    return 0;
too_long:
    resp->extra[resp->extra_len] = '\0';
    return -1;
}

void response_body_release(char *body, void (*body_free)(void *))
{
    if (body_free)
        body_free(body);
    else
        free(body);
}

void response_body_owned(struct response *resp, char *body, size_t len, void (*body_free)(void *))
{
    response_body_release(resp->body, resp->body_free);
    resp->body = body;
    resp->body_free = body_free;
    resp->body_len = resp->content_length = len;
}

void response_body(struct response *resp, char *body, size_t len)
{
    response_body_owned(resp, body, len, NULL);
}

void response_text(struct response *resp, int status, const char *content_type, const char *text)
{
    resp->status = status;
    resp->content_type = content_type;
    size_t len = strlen(text);
    char *body = malloc(len ? len : 1);
    if (body)
        memcpy(body, text, len);
    response_body(resp, body, body ? len : 0);
}

void response_error(struct response *resp, int status)
{
    char text[64];
    snprintf(text, sizeof text, "%d %s\n", status, status_reason(status));
    response_text(resp, status, "text/plain; charset=utf-8", text);
}

void response_reset(struct response *resp)
{
    response_body_release(resp->body, resp->body_free);
    memset(resp, 0, sizeof *resp);
}

const char *status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

size_t response_head(const struct response *resp, char *buf, size_t cap, const char *date,
                     bool close, bool http10_keep_alive)
{
    int n = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: rail-server/" RAIL_SERVER_VERSION "\r\n"
                     "Date: %s\r\n"
                     "%s%s%s"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "%.*s\r\n",
                     resp->status, status_reason(resp->status), date,
                     resp->content_type ? "Content-Type: " : "",
                     resp->content_type ? resp->content_type : "", resp->content_type ? "\r\n" : "",
                     resp->content_length,
                     close               ? "Connection: close\r\n"
                     : http10_keep_alive ? "Connection: keep-alive\r\n"
                                         : "",
                     (int)resp->extra_len, resp->extra);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void http_date(time_t t, char out[HTTP_DATE_LEN])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

time_t http_date_parse(const char *s)
{
    char wday[4], mon[4];
    int day, year, hh, mm, ss, used = 0;
    if (sscanf(s, "%3[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &hh, &mm,
               &ss, &used) != 7 ||
        used == 0 || s[used] != '\0')
        return -1;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            m = i;
    if (m < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return -1;
    return (time_t)(days_from_civil(year, (unsigned)m + 1, (unsigned)day) * 86400L + hh * 3600L +
                    mm * 60L + ss);
}
