/* The finding kinds (README.md, "Finding kinds") and the roles of
 * their stacks: one table of names and descriptions for the shim's reports
 * and the launcher. It includes nothing. */
#ifndef BC_KINDS_H
#define BC_KINDS_H

typedef enum {
    BC_KIND_LEAK,
    BC_KIND_DOUBLE_FREE,
    BC_KIND_INVALID_FREE,
    BC_KIND_USE_AFTER_FREE,
    BC_KIND_OVERFLOW,
    BC_KIND_PREFIX_CORRUPT,
    BC_KIND_INVALID_BSTR,
    BC_KIND_MISMATCHED_FREE,
    BC_KIND_COUNT
} bc_kind_t;

/* "leak", "double_free", ...: the JSON "kind" and the SARIF ruleId. */
extern const char *const bc_kind_names[BC_KIND_COUNT];
/* One sentence each: the SARIF rule's shortDescription. */
extern const char *const bc_kind_descriptions[BC_KIND_COUNT];
/* The kind called NAME, or -1 for a name not in the table (or NULL). */
int bc_kind_from_name(const char *name);

/* The stacks a finding may have: the JSON "stacks" keys. */
typedef enum {
    BC_ROLE_ALLOC,
    BC_ROLE_FREE,
    BC_ROLE_PREVIOUS_FREE,
    BC_ROLE_ACCESS,
    BC_ROLE_COUNT
} bc_role_t;
extern const char *const bc_role_names[BC_ROLE_COUNT];

#endif /* BC_KINDS_H */
