/* The launcher's command line and environment: flags checked against the
 * shim's option table, where COMMAND starts, and how LD_PRELOAD and
 * BSTRCHECK_OPTIONS are merged. */
#include "launcher.h"
#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int parse(bc_launch_args_t *args, const char *a0, ...)
{
    static char *argv[32];
    va_list ap;
    int argc = 0;
    argv[argc++] = (char *)"bstrcheck";
    va_start(ap, a0);
    for (const char *a = a0; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    /* errors go to stderr: keep the TAP output clean */
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int rc = bc_args_parse(argc, argv, args);
    dup2(saved, 2);
    close(saved);
    close(null);
    return rc;
}

static const char *env_value(char **env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

int main(void)
{
    tap_plan(27);
    bc_launch_args_t a;

    tap_is_int(parse(&a, "--json=m.json", "--exitcode=1", "--olechar=4", "--", "prog", "-x",
                     (char *)NULL), 0, "flags then -- then the command");
    tap_is_str(a.json_path, "m.json", "--json");
    tap_is_uint(a.noptions, 2, "two shim options");
    tap_is_str(a.noptions > 1 ? a.options[1] : NULL, "olechar=4", "kept in order, as name=value");
    tap_is_str(a.command ? a.command[0] : NULL, "prog", "command");
    tap_is_str(a.command ? a.command[1] : NULL, "-x", "its arguments untouched");
    free(a.options);

    tap_is_int(parse(&a, "--sarif=s.sarif", "prog", "--exitcode=3", (char *)NULL), 0,
               "the first non-flag starts the command");
    tap_ok(a.noptions == 0 && a.command && strcmp(a.command[1], "--exitcode=3") == 0,
           "flags after the command are the command's");
    tap_is_str(a.sarif_path, "s.sarif", "--sarif");
    free(a.options);

    tap_is_int(parse(&a, "--help", (char *)NULL), 0, "--help needs no command");
    tap_ok(a.help, "help set");
    free(a.options);
    tap_is_int(parse(&a, "--version", (char *)NULL), 0, "--version needs no command");
    free(a.options);

    tap_is_int(parse(&a, "--foo=1", "prog", (char *)NULL), BC_EXIT_USAGE, "unknown option");
    free(a.options);
    tap_is_int(parse(&a, "--olechar=3", "prog", (char *)NULL), BC_EXIT_USAGE, "bad value");
    free(a.options);
    tap_is_int(parse(&a, "--mode", "prog", (char *)NULL), BC_EXIT_USAGE, "no value");
    free(a.options);
    tap_is_int(parse(&a, "--json_path=x", "prog", (char *)NULL), BC_EXIT_USAGE,
               "json_path is the launcher's");
    free(a.options);
    tap_is_int(parse(&a, "--exitcode=1", (char *)NULL), BC_EXIT_USAGE, "no command");
    free(a.options);
    tap_is_int(parse(&a, "--sarif", "prog", (char *)NULL), BC_EXIT_USAGE, "--sarif needs a file");
    free(a.options);

    /* BSTRCHECK_OPTIONS: defaults, the user's items, flags, json_path. */
    parse(&a, "--exitcode=4", "prog", (char *)NULL);
    char *opts = bc_env_options("exitcode=9:olechar=4", &a, "/d/report.%p.json");
    tap_is_str(opts, "report_empty=0:exitcode=9:olechar=4:exitcode=4:json_path=/d/report.%p.json",
               "merged in order: launcher default, environment, flags, json_path");
    tap_is_int(bc_env_exitcode(opts), 4, "the last valid exitcode wins");
    tap_is_int(bc_env_exitcode("exitcode=9:exitcode=bad"), 9, "a bad one is skipped, like the shim");
    tap_is_int(bc_env_exitcode("olechar=4"), 23, "default 23");
    free(opts);
    opts = bc_env_options("  ", &a, "/d/r");
    tap_is_str(opts, "report_empty=0:exitcode=4:json_path=/d/r", "a blank environment adds nothing");
    free(opts);
    free(a.options);

    char *environ_in[] = {(char *)"HOME=/root", (char *)"LD_PRELOAD=/lib/other.so",
                          (char *)"BSTRCHECK_OPTIONS=old", (char *)"PATH=/bin", NULL};
    char **env = bc_env_build(environ_in, "/opt/lib/libbstrcheck.so", "new");
    tap_is_str(env_value(env, "LD_PRELOAD"), "/opt/lib/libbstrcheck.so:/lib/other.so",
               "shim prepended");
    tap_is_str(env_value(env, "BSTRCHECK_OPTIONS"), "new", "options replaced by the merged text");
    tap_ok(env_value(env, "HOME") && env_value(env, "PATH"), "the rest is kept");
    bc_env_free(env);
    char *again[] = {(char *)"LD_PRELOAD=/x.so /opt/lib/libbstrcheck.so", NULL};
    env = bc_env_build(again, "/opt/lib/libbstrcheck.so", "new");
    tap_is_str(env_value(env, "LD_PRELOAD"), "/x.so /opt/lib/libbstrcheck.so",
               "already preloaded: not added twice");
    bc_env_free(env);
    return tap_done();
}
