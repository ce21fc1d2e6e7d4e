/* nmdc.c: being written (see nmdc.h) */
