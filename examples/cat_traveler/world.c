/* SPDX-License-Identifier: MIT */
/*
 * The shared world of cat_traveler and cat_load: towns, first cats,
 * scenario names, the name rule, flag parsing, clocks and a small random
 * generator. See world.h.
 */
#include "world.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "ctrace/admin.h"

const char *const cat_world_towns[] = {
    "Barcelona",
    "Minsk",
    "Paris",
    "Lisbon",
    "Vilnius",
    "Prague",
    "Vienna",
    "Kraków",
    "Tbilisi",
    "Helsinki",
    "Porto",
    "Riga",
};
const size_t cat_world_town_count =
    sizeof(cat_world_towns) / sizeof(cat_world_towns[0]);

const char *const cat_world_cats[] = {"Murka", "Vasjka", "Marfa", "Tihon"};
const size_t cat_world_cat_count =
    sizeof(cat_world_cats) / sizeof(cat_world_cats[0]);

static const char *const scenario_names[] = {
    [CAT_SCENARIO_NONE] = "none",
    [CAT_SCENARIO_HOT_CAT] = "hot-cat",
    [CAT_SCENARIO_SLOW_TOWN] = "slow-town",
    [CAT_SCENARIO_BACKLOG] = "backlog",
    [CAT_SCENARIO_DRIFT] = "drift",
};

int cat_scenario_parse(const char *name, enum cat_scenario *out)
{
    for (size_t i = 0; i < sizeof(scenario_names) / sizeof(scenario_names[0]);
         i++) {
        if (strcmp(name, scenario_names[i]) == 0) {
            *out = (enum cat_scenario)i;
            return 0;
        }
    }
    return -1;
}

const char *cat_scenario_name(enum cat_scenario s)
{
    if ((size_t)s < sizeof(scenario_names) / sizeof(scenario_names[0]))
        return scenario_names[s];
    return "?";
}

const char *cat_scenario_list(void)
{
    return "hot-cat, slow-town, backlog, drift";
}

/*
 * Decodes one UTF-8 sequence at s[0..len). Returns its length and sets *cp,
 * or returns 0 for an ill-formed sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0u) != 0x80u)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

enum cat_name_problem cat_name_check(const char *s, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;
    bool nul = false;
    bool control = false;
    *chars = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return CAT_NAME_NOT_UTF8;
        if (cp == 0)
            nul = true;
        else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            control = true;
        i += n;
        count++;
    }
    *chars = count;
    if (nul)
        return CAT_NAME_NUL;
    if (control)
        return CAT_NAME_CONTROL;
    if (count == 0 || count > CAT_NAME_MAX_CHARS)
        return CAT_NAME_LENGTH;
    return CAT_NAME_OK;
}

int cat_exit_with_parent(const char *prog, int parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
        fprintf(stderr, "%s: --exit-with-parent: %s\n", prog, strerror(errno));
        return -1;
    }
    /* The parent may have ended between our start and the prctl(). */
    if (getppid() != parent) {
        fprintf(stderr,
                "%s: --exit-with-parent: the parent process has ended\n",
                prog);
        return -1;
    }
    return 0;
}

int cat_parse_uint(const char *prog,
                   const char *flag,
                   const char *text,
                   uint64_t min,
                   uint64_t max,
                   uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = 0;
    /* strtoull accepts "-1" and leading blanks; a number starts with a digit.
     */
    if (text[0] >= '0' && text[0] <= '9')
        v = strtoull(text, &end, 10);
    if (end == NULL || *end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr,
                "%s: %s: expected a whole number from %llu to %llu, got "
                "\"%s\"\n",
                prog,
                flag,
                (unsigned long long)min,
                (unsigned long long)max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

int cat_parse_seconds(const char *prog,
                      const char *flag,
                      const char *text,
                      double max,
                      double *out)
{
    char *end = NULL;
    errno = 0;
    double v = -1;
    if ((text[0] >= '0' && text[0] <= '9') || text[0] == '.')
        v = strtod(text, &end);
    if (end == NULL || *end != '\0' || errno != 0 || !isfinite(v) || v < 0 ||
        v > max) {
        fprintf(stderr,
                "%s: %s: expected a number of seconds from 0 to %.0f, got "
                "\"%s\"\n",
                prog,
                flag,
                max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

uint64_t cat_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cat_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint64_t cat_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t cat_rand_below(uint64_t *state, uint64_t n)
{
    /* The modulo bias is below 2^-50 for the small n used here. */
    return n == 0 ? 0 : cat_rand_next(state) % n;
}

double cat_rand_unit(uint64_t *state)
{
    /* 53 random bits: a double in [0, 1). */
    return (double)(cat_rand_next(state) >> 11) * 0x1.0p-53;
}

uint64_t cat_rand_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    s ^= (uint64_t)getpid() << 32;
    s ^= cat_now_ns();
    return cat_rand_next(&s);
}

struct ctrace_admin *cat_admin_start(const char *prog,
                                     const char *bind,
                                     unsigned port,
                                     const char *token_file,
                                     bool read_only,
                                     struct ctrace_error *err)
{
    struct ctrace_admin_opts ao;
    ctrace_admin_opts_init(&ao);
    ao.bind = bind;
    ao.port = (uint16_t)port;
    ao.token_file = token_file;
    ao.read_only = read_only;
    struct ctrace_admin *admin = ctrace_admin_start(&ao, err);
    if (admin == NULL)
        return NULL;
    /* An IPv6 address goes in brackets in a URL. */
    bool v6 = strchr(bind, ':') != NULL;
    printf("%s: admin endpoint on http://%s%s%s:%u (token in %s)\n",
           prog,
           v6 ? "[" : "",
           bind,
           v6 ? "]" : "",
           (unsigned)ctrace_admin_port(admin),
           ctrace_admin_token_file(admin));
    /* The observer's address holds the token: this is a demo. */
    char url[512];
    if (ctrace_admin_observer_url(admin, url, sizeof(url)) < sizeof(url))
        printf("%s: observer on %s\n", prog, url);
    fflush(stdout);
    return admin;
}
