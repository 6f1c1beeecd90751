/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz target's saved inputs once each, without libFuzzer, so that
 * the committed corpora are a regression suite for every build: gcc and
 * clang, plain, ASan and TSan. Linked with one target's source (its
 * LLVMFuzzerTestOneInput(), and LLVMFuzzerInitialize() when it has one);
 * a target reports a finding by aborting, as under the fuzzer.
 *
 * Usage: replay_TARGET FILE_OR_DIRECTORY...
 * Every regular file of a directory is one input, in name order. Prints how
 * many inputs ran; exits 1 when an input cannot be read or none was given.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file into a new buffer; NULL (and a message) on failure. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    bool failed = ferror(f) != 0 || buf == NULL;
    fclose(f);
    if (failed) {
        fprintf(stderr, "replay: %s: cannot read it\n", path);
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

static int run_file(const char *path, unsigned long *ran)
{
    size_t size = 0;
    uint8_t *data = read_file(path, &size);
    if (data == NULL)
        return -1;
    /* A private copy of exactly `size` bytes, so ASan sees any overrun. */
    uint8_t *exact = malloc(size > 0 ? size : 1);
    if (exact == NULL) {
        free(data);
        return -1;
    }
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    (*ran)++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned long *ran)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **more = realloc(names, cap * sizeof(*names));
            if (more == NULL) {
                rc = -1;
                break;
            }
            names = more;
        }
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(len);
        if (names[n] == NULL) {
            rc = -1;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode) &&
            run_file(names[i], ran) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    unsigned long ran = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &ran) != 0
                                       : run_file(argv[i], &ran) != 0) {
            rc = 1;
        }
    }
    printf("replay: %lu inputs ran\n", ran);
    return rc != 0 || ran == 0 ? 1 : 0;
}
