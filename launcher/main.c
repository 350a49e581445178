/* bstrcheck [--OPTION=VALUE ...] [--] COMMAND [ARGS...]
 *
 * Runs COMMAND with the shim preloaded into its whole process tree: the
 * preload variable and BSTRCHECK_OPTIONS are inherited by every child, and
 * every process that touched a BSTR writes its JSON report into a private
 * directory (json_path=DIR/report.%p.json, report_empty=0). Once COMMAND
 * has exited, the reports are merged: --json, --sarif, a text summary on
 * stderr, and the exit status. */
#include "launcher.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

static int run(const bc_launch_args_t *args, const char *shim)
{
    char dir[PATH_MAX];
    if (!bc_report_dir_create(dir, sizeof dir))
        return BC_EXIT_USAGE;
    char report_template[PATH_MAX + 32];
    snprintf(report_template, sizeof report_template, "%s/report.%%p.json", dir);
    char *options = bc_env_options(getenv("BSTRCHECK_OPTIONS"), args, report_template);
    char **env = options ? bc_env_build(environ, shim, options) : NULL;
    if (!env) {
        bc_collection_t none;
        bc_collect(dir, &none); /* removes the directory */
        free(options);
        return BC_EXIT_USAGE;
    }
    int exitcode = bc_env_exitcode(options);

    bc_run_result_t result = {.command = args->command};
    result.command_status = bc_spawn_wait(args->command, env);
    bc_env_free(env);
    free(options);

    bc_collection_t reports;
    bc_collect(dir, &reports);
    bool findings = false;
    for (size_t i = 0; i < reports.count; i++)
        findings = findings || bc_report_has_findings(&reports.reports[i]);
    result.exit_status = result.command_status;
    if (result.command_status == 0 && findings && exitcode != 0)
        result.exit_status = exitcode;

    if (args->json_path)
        bc_merge_write_json(args->json_path, &reports, &result);
    if (args->sarif_path)
        bc_merged_sarif_write(args->sarif_path, &reports, &result);
    bc_summary_write(2, &reports);
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
