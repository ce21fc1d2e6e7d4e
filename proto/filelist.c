/* filelist.c: being written (see filelist.h) */
