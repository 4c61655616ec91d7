/*
 * cli_secret.h - reading secrets (keys in hex on stdin, files with clear
 * keys or owner tokens) so that no copy outlives its use: stdin read with
 * read(2) into the caller's buffer, never through stdio's buffer; files
 * read through stdio with a buffer of ours that is wiped when they close.
 */
#ifndef FERRY_CLI_SECRET_H
#define FERRY_CLI_SECRET_H

#include <stddef.h>
#include <stdio.h>

/* One line from standard input, read with read(2) a byte at a time (so
 * nothing past the newline is consumed or left in a buffer), without its
 * "\r\n", NUL-terminated in buf[cap]. Returns 0, or -1 at end of input
 * before any byte, on a read error, or when the line does not fit (the
 * bytes read are wiped then). The caller wipes buf. */
int cli_secret_line(char *buf, size_t cap, size_t *len);

/* A FILE whose stdio buffer is ours, wiped by cli_secret_fclose. */
typedef struct cli_secret_file {
    FILE *f;
    char buf[8192];
} cli_secret_file;

/* Opens `path` for reading into *sf; returns sf->f, or NULL (errno set). */
FILE *cli_secret_fopen(const char *path, cli_secret_file *sf);

/* Closes sf->f (when open) and wipes the buffer. */
void cli_secret_fclose(cli_secret_file *sf);

#endif
