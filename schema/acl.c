/* acl.c — read-side checks of x-treaty-acl (DESIGN §3.11): whether an org may read a record of a
 * type, and removing the fields a field-level read list hides from it. The api applies these to
 * every record it returns; writes are checked at apply in the ledger. Pure functions of the
 * compiled type, the org and the record's owner. */
#include "schema/schema.h"

#include <stdio.h>
#include <string.h>

bool schema_acl_list_allows(const struct schema_acl_list *l, const char *org, const char *owner)
{
    if (!l->present)
        return true;
    if (!org)
        return false;
    for (size_t i = 0; i < l->len; i++) {
        const char *p = l->orgs[i];
        if (strcmp(p, "owner") == 0) { /* a principal, never an org called "owner" */
            if (owner && strcmp(owner, org) == 0)
                return true;
        } else if (strcmp(p, "*") == 0 || strcmp(p, org) == 0) {
            return true;
        }
    }
    return false;
}

bool schema_acl_may_read(const struct schema_type *t, const char *org, const char *owner)
{
    return schema_acl_list_allows(&t->acl.read, org, owner);
}

void schema_acl_redact(const struct schema_type *t, const char *org, const char *owner, json_t *doc)
{
    if (!json_is_object(doc))
        return;
    for (size_t i = 0; i < t->acl.field_count; i++) {
        const struct schema_field_acl *f = &t->acl.fields[i];
        if (!schema_acl_list_allows(&f->read, org, owner))
            json_object_del(doc, f->field);
    }
}

size_t schema_acl_list_format(const struct schema_acl_list *l, char *buf, size_t len)
{
    if (len == 0)
        return 0;
    buf[0] = '\0';
    if (!l->present)
        snprintf(buf, len, "*");
    else if (l->len == 0)
        snprintf(buf, len, "nobody");
    for (size_t i = 0; l->present && i < l->len; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l->orgs[i]);
    }
    return strlen(buf);
}
