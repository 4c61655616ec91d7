/*
 * se_io.h - whole-buffer reads and writes on a stream socket, retried on
 * EINTR and short transfers; shared by the client and the emulator loop.
 */
#ifndef FERRY_SE_IO_H
#define FERRY_SE_IO_H

#include <stddef.h>
#include <stdint.h>

/* 0 when all n bytes were read, -1 on error or end of stream. */
int se_io_read_full(int fd, uint8_t *p, size_t n);

/* 0 when all n bytes were written, -1 on error. */
int se_io_write_full(int fd, const uint8_t *p, size_t n);

#endif
