/* adc.c: being written (see adc.h) */
