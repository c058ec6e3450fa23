/* compile_ref.c — `$id` and `$ref` for schema_compile: RFC 3986 reference resolution, the table of
 * resources and plain-name anchors, JSON-pointer fragments (RFC 6901 with %-escapes), the node
 * index by path, and the check that no chain of same-instance subschemas loops back on itself.
 * Invariant: after schema__refs_resolve every node with a $ref points at a node of this schema;
 * nothing outside the document is ever fetched (remote references are refused). */
#include "schema/schema_int.h"
#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

/* ---- RFC 3986 ---- */

struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    bool has_scheme, has_auth, has_query, has_frag;
};

/* Splits `u` into its five components (RFC 3986 appendix B). */
static void uri_split(const char *u, struct uri_parts *p)
{
    memset(p, 0, sizeof *p);
    size_t n = strcspn(u, ":/?#");
    if (u[n] == ':' && n > 0) {
        p->has_scheme = true;
        p->scheme = u;
        p->scheme_len = n;
        u += n + 1;
    }
    if (u[0] == '/' && u[1] == '/') {
        p->has_auth = true;
        p->auth = u + 2;
        p->auth_len = strcspn(u + 2, "/?#");
        u += 2 + p->auth_len;
    }
    p->path = u;
    p->path_len = strcspn(u, "?#");
    u += p->path_len;
    if (*u == '?') {
        p->has_query = true;
        p->query = u + 1;
        p->query_len = strcspn(u + 1, "#");
        u += 1 + p->query_len;
    }
    if (*u == '#') {
        p->has_frag = true;
        p->frag = u + 1;
        p->frag_len = strlen(u + 1);
    }
}

/* Drops the last segment of out[0..*len) and the '/' before it (RFC 3986 §5.2.4 step 2C). */
static void uri_pop_segment(const char *out, size_t *len)
{
    while (*len > 0 && out[*len - 1] != '/')
        (*len)--;
    if (*len > 0)
        (*len)--;
}

/* remove_dot_segments of RFC 3986 §5.2.4, in place on the NUL-terminated `buf`. */
static void uri_remove_dots(char *buf)
{
    char *in = buf;
    size_t out = 0;
    while (*in) {
        if (strncmp(in, "../", 3) == 0) {
            in += 3;
        } else if (strncmp(in, "./", 2) == 0) {
            in += 2;
        } else if (strncmp(in, "/./", 3) == 0) {
            in += 2;
        } else if (strcmp(in, "/.") == 0) {
            in[1] = '/';
            in += 1;
        } else if (strncmp(in, "/../", 4) == 0) {
            in += 3;
            uri_pop_segment(buf, &out);
        } else if (strcmp(in, "/..") == 0) {
            in[2] = '/';
            in += 2;
            uri_pop_segment(buf, &out);
        } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
            break;
        } else {
            size_t seg = (*in == '/') + strcspn(in + (*in == '/'), "/");
            memmove(buf + out, in, seg);
            out += seg;
            in += seg;
        }
    }
    buf[out] = '\0';
}

/* The target path of §5.2.2 written to `dst` (room for base path + ref path + 2 bytes). */
static void uri_target_path(const struct uri_parts *b, const struct uri_parts *r, char *dst)
{
    if (r->path_len > 0 && r->path[0] == '/') {
        memcpy(dst, r->path, r->path_len);
        dst[r->path_len] = '\0';
    } else if (b->has_auth && b->path_len == 0) { /* merge, §5.2.3 */
        dst[0] = '/';
        memcpy(dst + 1, r->path, r->path_len);
        dst[1 + r->path_len] = '\0';
    } else {
        size_t keep = b->path_len;
        while (keep > 0 && b->path[keep - 1] != '/')
            keep--;
        memcpy(dst, b->path, keep);
        memcpy(dst + keep, r->path, r->path_len);
        dst[keep + r->path_len] = '\0';
    }
    uri_remove_dots(dst);
}

int schema__uri_resolve(const char *base, const char *ref, char **out)
{
    struct uri_parts b, r;
    uri_split(base, &b);
    uri_split(ref, &r);
    const struct uri_parts *auth = r.has_scheme || r.has_auth ? &r : &b;
    const struct uri_parts *query = &r;
    if (!r.has_scheme && !r.has_auth && r.path_len == 0 && !r.has_query)
        query = &b;
    size_t cap = strlen(base) + strlen(ref) + 8;
    char *path = tr_malloc(cap), *res = tr_malloc(cap);
    if (!path || !res) {
        tr_free(path);
        tr_free(res);
        return TR_ENOMEM;
    }
    if (r.has_scheme || r.has_auth) {
        memcpy(path, r.path, r.path_len);
        path[r.path_len] = '\0';
        uri_remove_dots(path);
    } else if (r.path_len == 0) {
        memcpy(path, b.path, b.path_len);
        path[b.path_len] = '\0';
    } else {
        uri_target_path(&b, &r, path);
    }
    const struct uri_parts *sch = r.has_scheme ? &r : &b;
    int n = snprintf(res, cap, "%.*s%s%s%.*s%s%s%.*s%s%.*s", (int)sch->scheme_len, sch->scheme,
                     sch->has_scheme ? ":" : "", auth->has_auth ? "//" : "", (int)auth->auth_len,
                     auth->auth, path, query->has_query ? "?" : "", (int)query->query_len,
                     query->query, r.has_frag ? "#" : "", (int)r.frag_len, r.frag);
    TR_ASSERT(n >= 0 && (size_t)n < cap);
    tr_free(path);
    *out = res;
    return TR_OK;
}

/* ---- tables ---- */

int schema__ids_add(struct schema__compiler *c, char *uri, struct schema_node *node,
                    const json_t *json)
{
    for (size_t i = 0; i < c->ids_len; i++) {
        if (strcmp(c->ids[i].uri, uri) == 0) {
            int rc = schema__compile_fail(c, TR_ESCHEMA, "%s/$id: %s is already the $id of %s",
                                          node->path, uri, c->ids[i].node->path);
            tr_free(uri);
            return rc;
        }
    }
    if (c->ids_len == c->ids_cap) {
        size_t cap = c->ids_cap ? c->ids_cap * 2 : 8;
        struct schema__id *v = tr_realloc(c->ids, cap * sizeof *v);
        if (!v) {
            tr_free(uri);
            return TR_ENOMEM;
        }
        c->ids = v;
        c->ids_cap = cap;
    }
    c->ids[c->ids_len++] = (struct schema__id){.uri = uri, .node = node, .json = json};
    return TR_OK;
}

int schema__refs_add(struct schema__compiler *c, struct schema_node *node, char *uri,
                     const char *ref)
{
    if (c->refs_len == c->refs_cap) {
        size_t cap = c->refs_cap ? c->refs_cap * 2 : 8;
        struct schema__pending *v = tr_realloc(c->refs, cap * sizeof *v);
        if (!v) {
            tr_free(uri);
            return TR_ENOMEM;
        }
        c->refs = v;
        c->refs_cap = cap;
    }
    c->refs[c->refs_len++] = (struct schema__pending){.node = node, .uri = uri, .ref = ref};
    return TR_OK;
}

static size_t path_hash(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static void path_index_insert(struct schema_node **tab, size_t cap, struct schema_node *n)
{
    size_t i = path_hash(n->path, strlen(n->path)) & (cap - 1);
    while (tab[i])
        i = (i + 1) & (cap - 1);
    tab[i] = n;
}

int schema__path_index_put(struct schema *s, struct schema_node *n)
{
    if (s->nodes_len * 2 >= s->by_path_cap) {
        size_t cap = s->by_path_cap ? s->by_path_cap * 2 : 64;
        struct schema_node **tab = tr_calloc(cap, sizeof *tab);
        if (!tab)
            return TR_ENOMEM;
        for (size_t i = 0; i < s->by_path_cap; i++)
            if (s->by_path[i])
                path_index_insert(tab, cap, s->by_path[i]);
        tr_free(s->by_path);
        s->by_path = tab;
        s->by_path_cap = cap;
    }
    path_index_insert(s->by_path, s->by_path_cap, n);
    return TR_OK;
}

struct schema_node *schema__path_index_get(const struct schema *s, const char *path, size_t len)
{
    if (!s->by_path_cap)
        return NULL;
    size_t i = path_hash(path, len) & (s->by_path_cap - 1);
    for (; s->by_path[i]; i = (i + 1) & (s->by_path_cap - 1)) {
        const char *p = s->by_path[i]->path;
        if (strncmp(p, path, len) == 0 && p[len] == '\0')
            return s->by_path[i];
    }
    return NULL;
}

char *schema__path_join(const char *parent, const char *token, size_t len)
{
    size_t plen = strlen(parent), extra = 0;
    for (size_t i = 0; i < len; i++)
        extra += token[i] == '~' || token[i] == '/';
    char *p = tr_malloc(plen + 1 + len + extra + 1);
    if (!p)
        return NULL;
    memcpy(p, parent, plen);
    size_t o = plen;
    p[o++] = '/';
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '~' || token[i] == '/') {
            p[o++] = '~';
            p[o++] = token[i] == '~' ? '0' : '1';
        } else {
            p[o++] = token[i];
        }
    }
    p[o] = '\0';
    return p;
}

/* ---- $ref resolution ---- */

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

char *schema__pct_decode(const char *s, size_t *len)
{
    char *d = tr_malloc(strlen(s) + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        int hi, lo;
        if (s[i] == '%' && (hi = hex_value(s[i + 1])) >= 0 && (lo = hex_value(s[i + 2])) >= 0) {
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *len = o;
    return d;
}

static const struct schema__id *ids_find(const struct schema__compiler *c, const char *uri,
                                         size_t len)
{
    for (size_t i = 0; i < c->ids_len; i++)
        if (strncmp(c->ids[i].uri, uri, len) == 0 && c->ids[i].uri[len] == '\0')
            return &c->ids[i];
    return NULL;
}

/* Unescapes one RFC 6901 token (~1 is '/', ~0 is '~') from ptr[0..len) into tok. */
static size_t pointer_token(const char *ptr, size_t len, char *tok)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (ptr[i] == '~' && i + 1 < len && (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
            tok[o++] = ptr[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            tok[o++] = ptr[i];
        }
    }
    return o;
}

static const json_t *pointer_child(const json_t *j, const char *tok, size_t len)
{
    if (json_is_object(j))
        return json_object_getn(j, tok, len);
    if (!json_is_array(j) || len == 0 || len > 9 || (len > 1 && tok[0] == '0'))
        return NULL;
    size_t idx = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return NULL;
        idx = idx * 10 + (size_t)(tok[i] - '0');
    }
    return json_array_get(j, idx);
}

/* Follows JSON pointer `ptr` from resource `id`. On success *path is the target's canonical
 * path and *base the base URI in effect at the target (both owned). */
static int pointer_walk(const struct schema__id *id, const char *ptr, size_t len,
                        const json_t **target, char **path, char **base)
{
    const json_t *j = id->json;
    *path = tr_strdup(id->node->path);
    *base = tr_strdup(id->uri);
    char *tok = tr_malloc(len + 1);
    int rc = TR_ENOMEM;
    if (!*path || !*base || !tok)
        goto fail;
    for (size_t i = 1; i <= len && j;) {
        size_t n = strcspn(ptr + i, "/");
        if (i + n > len)
            n = len - i;
        size_t tlen = pointer_token(ptr + i, n, tok);
        const json_t *id_val = j != id->json ? json_object_get(j, "$id") : NULL;
        if (json_is_string(id_val)) {
            char *nb;
            if ((rc = schema__uri_resolve(*base, json_string_value(id_val), &nb)) != TR_OK)
                goto fail;
            tr_free(*base);
            *base = nb;
        }
        char *np = schema__path_join(*path, tok, tlen);
        if (!np)
            goto fail;
        tr_free(*path);
        *path = np;
        j = pointer_child(j, tok, tlen);
        i += n + 1;
    }
    tr_free(tok);
    *target = j;
    return TR_OK;
fail:
    tr_free(tok);
    tr_free(*path);
    tr_free(*base);
    *path = *base = NULL;
    return rc;
}

static int ref_by_pointer(struct schema__compiler *c, const struct schema__id *id, const char *frag,
                          struct schema_node **out)
{
    size_t len;
    char *ptr = schema__pct_decode(frag, &len);
    if (!ptr)
        return TR_ENOMEM;
    const json_t *target = NULL;
    char *path = NULL, *base = NULL;
    int rc = pointer_walk(id, ptr, len, &target, &path, &base);
    tr_free(ptr);
    if (rc != TR_OK)
        return rc;
    *out = schema__path_index_get(c->s, path, strlen(path));
    if (*out || !(json_is_object(target) || json_is_boolean(target))) {
        tr_free(path);
        tr_free(base);
        return TR_OK;
    }
    /* A schema in a place no keyword compiles (under an unknown keyword, or beside a $ref):
     * compile it now; draft-07 lets a pointer name any subschema. */
    rc = schema__compile_node(c, target, path, base, 1, out);
    tr_free(base);
    return rc;
}

static int ref_resolve_one(struct schema__compiler *c, const struct schema__pending *p)
{
    const char *hash = strchr(p->uri, '#');
    size_t base_len = hash ? (size_t)(hash - p->uri) : strlen(p->uri);
    const char *frag = hash ? hash + 1 : "";
    struct schema_node *target = NULL;
    const struct schema__id *id = ids_find(c, p->uri, base_len);
    if (frag[0] != '\0' && frag[0] != '/') {
        const struct schema__id *anchor = ids_find(c, p->uri, strlen(p->uri));
        target = anchor ? anchor->node : NULL;
    } else if (id) {
        int rc = ref_by_pointer(c, id, frag, &target);
        if (rc != TR_OK)
            return rc;
    }
    if (target) {
        p->node->ref = target;
        return TR_OK;
    }
    if (!id)
        return schema__compile_fail(c, TR_ESCHEMA,
                                    "%s/$ref: cannot resolve \"%s\" (%s): not in this document, "
                                    "and remote references are not supported",
                                    p->node->path, p->ref, p->uri);
    return schema__compile_fail(c, TR_ESCHEMA, "%s/$ref: \"%s\" does not point to a schema",
                                p->node->path, p->ref);
}

int schema__refs_resolve(struct schema__compiler *c)
{
    /* Index-based: resolving may compile new subschemas, which may add references. */
    for (size_t i = 0; i < c->refs_len; i++) {
        struct schema__pending p = c->refs[i];
        int rc = ref_resolve_one(c, &p);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* ---- cycles ---- */

/* The k-th subschema that `n` applies to the same instance, or NULL past the last. */
static struct schema_node *same_instance_edge(const struct schema_node *n, size_t k)
{
    if (n->ref)
        return k == 0 ? n->ref : NULL;
    /* then/else apply only under if (draft-07 validation §6.6). */
    struct schema_node *const fixed[4] = {n->not_, n->if_, n->if_ ? n->then_ : NULL,
                                          n->if_ ? n->else_ : NULL};
    for (size_t i = 0; i < 4; i++) {
        if (fixed[i] && k-- == 0)
            return fixed[i];
    }
    if (k < n->all_of_len)
        return n->all_of[k];
    k -= n->all_of_len;
    if (k < n->any_of_len)
        return n->any_of[k];
    k -= n->any_of_len;
    if (k < n->one_of_len)
        return n->one_of[k];
    k -= n->one_of_len;
    for (size_t i = 0; i < n->deps_len; i++) {
        if (n->deps[i].node && k-- == 0)
            return n->deps[i].node;
    }
    return NULL;
}

struct dfs_frame {
    struct schema_node *n;
    size_t next;
};

/* Depth-first search with an explicit stack (a chain may be as long as the node count). */
static int cycles_from(struct schema__compiler *c, struct schema_node *start, unsigned char *color,
                       struct dfs_frame *stack)
{
    size_t top = 0;
    stack[top++] = (struct dfs_frame){start, 0};
    color[start->index] = 1;
    while (top > 0) {
        struct dfs_frame *f = &stack[top - 1];
        struct schema_node *m = same_instance_edge(f->n, f->next++);
        if (!m) {
            color[f->n->index] = 2;
            top--;
        } else if (color[m->index] == 1) {
            return schema__compile_fail(c, TR_ESCHEMA,
                                        "%s: subschemas loop back to %s without descending "
                                        "into the instance",
                                        f->n->path[0] ? f->n->path : "(root)",
                                        m->path[0] ? m->path : "(root)");
        } else if (color[m->index] == 0) {
            color[m->index] = 1;
            stack[top++] = (struct dfs_frame){m, 0};
        }
    }
    return TR_OK;
}

int schema__cycles_check(struct schema__compiler *c)
{
    size_t n = c->s->nodes_len;
    unsigned char *color = tr_calloc(n, 1);
    struct dfs_frame *stack = tr_malloc(n * sizeof *stack);
    int rc = TR_ENOMEM;
    if (!color || !stack)
        goto done;
    rc = TR_OK;
    for (size_t i = 0; i < n && rc == TR_OK; i++)
        if (color[i] == 0)
            rc = cycles_from(c, c->s->nodes[i], color, stack);
done:
    tr_free(color);
    tr_free(stack);
    return rc;
}
