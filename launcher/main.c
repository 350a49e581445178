/* bstrcheck [--OPTION=VALUE ...] [--] COMMAND [ARGS...]
 *
 * Runs COMMAND with the shim preloaded into its whole process tree: the
 * preload variable and BSTRCHECK_OPTIONS are inherited by every child, and
 * every process that touched a BSTR writes its JSON report into a private
 * directory (json_path=DIR/report.%p.json, report_empty=0). Once COMMAND
 * has exited, the reports are merged: --json, --sarif, a text summary on
 * stderr, and the exit status (with --baseline: of the new findings only). */
#include "launcher.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* With --baseline, the processes must not change their exit status for
 * findings (the baseline's own would fail the run): exitcode=0 is added to
 * their options, and the launcher applies the exitcode the user asked for
 * to new findings only. Returns the options text (malloc'd) and the
 * exitcode in *EXITCODE; NULL after one error line. */
static char *shim_options(const bc_launch_args_t *args, const char *report_template,
                          int *exitcode)
{
    char *asked = bc_env_options(getenv("BSTRCHECK_OPTIONS"), args, report_template);
    if (!asked || !args->baseline_path) {
        *exitcode = asked ? bc_env_exitcode(asked) : 0;
        return asked;
    }
    *exitcode = bc_env_exitcode(asked);
    free(asked);
    bc_launch_args_t with = *args;
    with.options = calloc(args->noptions + 1, sizeof *with.options);
    if (!with.options) {
        bc_launcher_error("out of memory");
        return NULL;
    }
    memcpy(with.options, args->options, args->noptions * sizeof *with.options);
    with.options[with.noptions++] = "exitcode=0";
    char *options = bc_env_options(getenv("BSTRCHECK_OPTIONS"), &with, report_template);
    free(with.options);
    return options;
}

/* Does the preload variable already start with a runtime that must come
 * first (the shim is then put after it)? */
static bool preload_starts_with_runtime(void)
{
    const char *value = getenv(bc_platform_preload_var());
    if (!value)
        return false;
    value += strspn(value, ": ");
    return *value && bc_env_must_come_first(value, strcspn(value, ": "));
}

static int run(const bc_launch_args_t *args, const char *shim)
{
    bc_baseline_t baseline;
    bool with_baseline = args->baseline_path != NULL;
    if (with_baseline && !bc_baseline_load(&baseline, args->baseline_path))
        return BC_EXIT_USAGE;
    char dir[PATH_MAX];
    if (!bc_report_dir_create(dir, sizeof dir)) {
        if (with_baseline)
            bc_baseline_free(&baseline);
        return BC_EXIT_USAGE;
    }
    char report_template[PATH_MAX + 32];
    snprintf(report_template, sizeof report_template, "%s/report.%%p.json", dir);
    int exitcode = 0;
    char *options = shim_options(args, report_template, &exitcode);
    char runtime[256];
    const char *first = NULL;
    if (bc_command_runtime_first(args->command[0], runtime, sizeof runtime)) {
        first = runtime;
        if (!preload_starts_with_runtime())
            bc_launcher_error("note: '%s' needs %s, a sanitizer runtime that must load before "
                              "every other library: it goes first in %s, ahead of the shim",
                              args->command[0], runtime, bc_platform_preload_var());
    }
    if (preload_starts_with_runtime())
        bc_launcher_error("note: %s starts with a sanitizer runtime that must load first: "
                          "the shim goes after it", bc_platform_preload_var());
    char **env = options ? bc_env_build_first(environ, first, shim, options) : NULL;
    if (!env) {
        bc_collection_t none;
        bc_collect(dir, &none); /* removes the directory */
        free(options);
        if (with_baseline)
            bc_baseline_free(&baseline);
        return BC_EXIT_USAGE;
    }

    bc_run_result_t result = {.command = args->command};
    result.command_status = bc_spawn_wait(args->command, env);
    bc_env_free(env);
    free(options);

    bc_collection_t reports;
    bc_collect(dir, &reports);
    bool findings = false;
    for (size_t i = 0; i < reports.count; i++)
        findings = findings || bc_report_has_findings(&reports.reports[i]);
    /* with a baseline, only new findings count */
    if (with_baseline) {
        if (bc_baseline_compare(&baseline, &reports)) {
            findings = baseline.new_count > 0;
        } else {
            bc_baseline_free(&baseline);
            with_baseline = false;
        }
    }
    result.exit_status = result.command_status;
    if (result.command_status == 0 && findings && exitcode != 0)
        result.exit_status = exitcode;

    const bc_baseline_t *b = with_baseline ? &baseline : NULL;
    if (args->json_path)
        bc_merge_write_json(args->json_path, &reports, &result, b);
    if (args->sarif_path)
        bc_merged_sarif_write(args->sarif_path, &reports, &result, b);
    bc_summary_write(2, &reports);
    if (b) {
        bc_baseline_summary(2, b);
        bc_baseline_free(&baseline);
    }
    bc_collection_free(&reports);
    return result.exit_status;
}

int main(int argc, char **argv)
{
    bc_launch_args_t args;
    int status = bc_args_parse(argc, argv, &args);
    if (status == 0 && args.help) {
        bc_usage_print(1);
    } else if (status == 0 && args.version) {
        bc_version_print(1);
    } else if (status == 0) {
        char *shim = bc_platform_find_shim();
        status = shim ? run(&args, shim) : BC_EXIT_USAGE;
        free(shim);
    }
    free(args.options);
    return status;
}
