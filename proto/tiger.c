/* tiger.c: being written (see tiger.h) */
