/* What the launcher says to its user: --help, --version, and its one line
 * per error. */
#include "launcher.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: bstrcheck [--OPTION=VALUE ...] [--] COMMAND [ARGS...]\n"
    "\n"
    "Run COMMAND with the bstrcheck shim preloaded into it and into every process\n"
    "it starts, collect each process's report, and print one summary. The exit\n"
    "status is COMMAND's, or the exitcode option (23 by default) when COMMAND\n"
    "succeeded and findings remain; 128+N when COMMAND was killed by signal N.\n"
    "\n"
    "Launcher flags:\n"
    "  --json=FILE      write the merged JSON report of every process to FILE\n"
    "  --sarif=FILE     write the merged findings as SARIF 2.1.0 to FILE\n"
    "  --baseline=FILE  compare with FILE, an earlier --json report: only findings\n"
    "                   it does not have (new ones) fail the run; prints how many\n"
    "                   are new, unchanged and fixed\n"
    "  --help           show this help\n"
    "  --version        show the version\n"
    "\n"
    "Every other --NAME=VALUE sets the shim's option NAME for every process (it is\n"
    "added to BSTRCHECK_OPTIONS, after the variable's own items). json_path is the\n"
    "launcher's own. See bstrcheck(1).\n"
    "\n";

void bc_usage_print(int fd)
{
    bc_log_write(fd, usage_text, sizeof usage_text - 1);
    bc_options_print_help(fd);
}

void bc_version_print(int fd)
{
    static const char text[] = "bstrcheck " BC_VERSION "\n";
    bc_log_write(fd, text, sizeof text - 1);
}

void bc_launcher_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bc_log_line(2, "bstrcheck: ", fmt, ap);
    va_end(ap);
}
