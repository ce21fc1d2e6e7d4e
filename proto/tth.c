/* tth.c: being written (see tth.h) */
