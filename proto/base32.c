/* base32.c: being written (see base32.h) */
