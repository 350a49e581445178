/* The command line: launcher flags (--json, --sarif, --baseline, --help,
 * --version), then --name=value flags for the shim
 * (checked against the shim's own option table, interpose/options.inc),
 * then COMMAND. The first argument that is not a flag, or the one after
 * "--", starts COMMAND. */
#include "launcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --json=FILE and --sarif=FILE: a non-empty value is required. */
static int launcher_path(const char *flag, const char *value, const char **out)
{
    if (!value || !*value) {
        bc_launcher_error("%s needs a file: %s=FILE", flag, flag);
        return BC_EXIT_USAGE;
    }
    *out = value;
    return 0;
}

/* --NAME=VALUE for the shim: NAME must be in the option table and VALUE
 * valid for it. */
static int shim_option(const char *arg, bc_launch_args_t *args)
{
    const char *item = arg + 2;
    const char *eq = strchr(item, '=');
    char name[64];
    size_t len = eq ? (size_t)(eq - item) : strlen(item);
    if (len == 0 || len >= sizeof name) {
        bc_launcher_error("unknown option '%s' (bstrcheck --help lists them)", arg);
        return BC_EXIT_USAGE;
    }
    memcpy(name, item, len);
    name[len] = '\0';
    const char *valid = NULL;
    int rc = bc_option_check(name, eq ? eq + 1 : "", &valid);
    if (rc == ENOENT) {
        bc_launcher_error("unknown option '--%s' (bstrcheck --help lists them)", name);
        return BC_EXIT_USAGE;
    }
    if (!eq) {
        bc_launcher_error("option '--%s' needs a value: --%s=VALUE (valid: %s)", name, name,
                          valid);
        return BC_EXIT_USAGE;
    }
    if (strcmp(name, "json_path") == 0) {
        bc_launcher_error("'--json_path' is the launcher's own (it collects every process's "
                          "report); use --json=FILE for the merged report");
        return BC_EXIT_USAGE;
    }
    if (rc != 0) {
        bc_launcher_error("bad value '%s' for option '--%s' (valid: %s)", eq + 1, name, valid);
        return BC_EXIT_USAGE;
    }
    /* The shim splits BSTRCHECK_OPTIONS at ':' and white space. */
    if (strpbrk(eq + 1, ": \t\n")) {
        bc_launcher_error("the value of '--%s' may not contain ':' or white space", name);
        return BC_EXIT_USAGE;
    }
    args->options[args->noptions++] = item;
    return 0;
}

static int parse_flag(const char *arg, bc_launch_args_t *args)
{
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        args->help = true;
        return 0;
    }
    if (strcmp(arg, "--version") == 0) {
        args->version = true;
        return 0;
    }
    if (strncmp(arg, "--json", 6) == 0 && (arg[6] == '=' || arg[6] == '\0'))
        return launcher_path("--json", arg[6] ? arg + 7 : NULL, &args->json_path);
    if (strncmp(arg, "--sarif", 7) == 0 && (arg[7] == '=' || arg[7] == '\0'))
        return launcher_path("--sarif", arg[7] ? arg + 8 : NULL, &args->sarif_path);
    if (strncmp(arg, "--baseline", 10) == 0 && (arg[10] == '=' || arg[10] == '\0'))
        return launcher_path("--baseline", arg[10] ? arg + 11 : NULL, &args->baseline_path);
    if (arg[1] != '-') {
        bc_launcher_error("unknown option '%s' (bstrcheck --help lists them)", arg);
        return BC_EXIT_USAGE;
    }
    return shim_option(arg, args);
}

int bc_args_parse(int argc, char **argv, bc_launch_args_t *args)
{
    memset(args, 0, sizeof *args);
    args->options = calloc((size_t)(argc > 0 ? argc : 1), sizeof *args->options);
    if (!args->options) {
        bc_launcher_error("out of memory");
        return BC_EXIT_USAGE;
    }
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break;
        int rc = parse_flag(arg, args);
        if (rc != 0)
            return rc;
    }
    if (i < argc)
        args->command = argv + i;
    if (!args->command && !args->help && !args->version) {
        bc_launcher_error("no command to run (usage: bstrcheck [--OPTION=VALUE ...] [--] "
                          "COMMAND [ARGS...])");
        return BC_EXIT_USAGE;
    }
    return 0;
}
