/* main.c: the dcharness executable; everything lives in harness_core (cli.c). */
#include "harness/cli.h"

int main(int argc, char **argv)
{
    return hr_main(argc, argv);
}
