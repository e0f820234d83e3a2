/**
 * The nice value in a /proc/.../stat line (field 19), read from the kernel rather than from the worker's own
 * bookkeeping. The command name (field 2) may hold spaces and parentheses, so fields count from the last ')'.
 */
export const niceOf = (stat: string): number => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
