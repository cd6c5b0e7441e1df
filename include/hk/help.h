/* help: usage texts of the command line. */
#ifndef HK_HELP_H
#define HK_HELP_H

/* Prints the usage of a command, or of hksweep as a whole when NULL. */
void hk_help(const char *command);

#endif
