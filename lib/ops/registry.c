/* SPDX-License-Identifier: MIT */
/* The built-in op table and registries of ops by name. */
#include "kernels.h"

#include <string.h>

static const bp_op *const builtin_ops[] = {
#define BP_OP(name) &bpi_op_##name,
#include "ops.def"
#undef BP_OP
};

#define N_BUILTIN (sizeof builtin_ops / sizeof builtin_ops[0])

size_t bp_builtin_count(void)
{
    return N_BUILTIN;
}

const bp_op *bp_builtin(size_t i)
{
    return i < N_BUILTIN ? builtin_ops[i] : NULL;
}

struct bp_registry {
    const bp_op **ops;
    size_t n;
    size_t cap;
};

bp_registry *bp_registry_new(void)
{
    bp_registry *reg = bpi_calloc(1, sizeof *reg);

    if (!reg)
        return NULL;
    for (size_t i = 0; i < N_BUILTIN; i++) {
        if (bp_registry_add(reg, builtin_ops[i]) != BP_OK) {
            bp_registry_free(reg);
            return NULL;
        }
    }
    return reg;
}

void bp_registry_free(bp_registry *reg)
{
    if (reg) {
        bpi_free(reg->ops);
        bpi_free(reg);
    }
}

bp_status bp_registry_add(bp_registry *reg, const bp_op *op)
{
    if (!reg || bp_op_validate(op) != BP_OK || bp_registry_find(reg, op->name))
        return BP_EINVAL;
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? 2 * reg->cap : 32;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        const bp_op **ops = bpi_malloc(cap * sizeof *ops);
        if (!ops)
            return BP_ENOMEM;
        if (reg->n)
            /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
            memcpy(ops, reg->ops, reg->n * sizeof *ops);
        bpi_free(reg->ops);
        reg->ops = ops;
        reg->cap = cap;
    }
    reg->ops[reg->n++] = op;
    return BP_OK;
}

size_t bp_registry_count(const bp_registry *reg)
{
    return reg ? reg->n : 0;
}

const bp_op *bp_registry_get(const bp_registry *reg, size_t i)
{
    return reg && i < reg->n ? reg->ops[i] : NULL;
}

const bp_op *bp_registry_find(const bp_registry *reg, const char *name)
{
    if (!reg || !name)
        return NULL;
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->ops[i]->name, name) == 0)
            return reg->ops[i];
    return NULL;
}
