// The public API report: every name each package entry point exports, with its
// kind and signature, as the TypeScript compiler sees them. docs/api-report.md
// is the reviewed copy; test/package/api-report.test.ts fails when the source
// no longer matches it, so a change to the public surface is always a
// deliberate, reviewed edit of that file.
//
//   node scripts/api-report.mjs          rewrite docs/api-report.md
//   node scripts/api-report.mjs --check  exit 1 if it is out of date
//
// Written here rather than with @microsoft/api-extractor: that tool works on
// built .d.ts files and brings a large dependency tree for a report this
// project only needs as a list of names and signatures.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPORT_PATH = join(ROOT, 'docs', 'api-report.md');

/** package.json "exports" subpath → its TypeScript source. */
export const ENTRY_POINTS = [
  ['tidemark', 'src/index.ts'],
  ['tidemark/ltx', 'src/ltx/index.ts'],
  ['tidemark/eventlog', 'src/eventlog/index.ts'],
  ['tidemark/testing', 'src/testing.ts'],
];

const FORMAT =
  ts.TypeFormatFlags.NoTruncation |
  ts.TypeFormatFlags.UseSingleQuotesForStringLiteralType |
  ts.TypeFormatFlags.WriteArrowStyleSignature |
  ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope;

/** Members a user cannot reach, members inherited from the runtime's own types (Error's), and `@internal` ones. */
function isHidden(member) {
  const name = member.getName();
  if (name.startsWith('__#') || name.startsWith('#') || name === 'prototype') return true;
  const decls = member.declarations ?? [];
  if (decls.length > 0 && decls.every((d) => d.getSourceFile().isDeclarationFile)) return true;
  if (decls.some((d) => ts.getJSDocTags(d).some((t) => t.tagName.text === 'internal'))) return true;
  return decls.some((d) => {
    const flags = ts.getCombinedModifierFlags(d);
    return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0;
  });
}

function isReadonly(member) {
  return (member.declarations ?? []).some(
    (d) => (ts.getCombinedModifierFlags(d) & ts.ModifierFlags.Readonly) !== 0 || (ts.isGetAccessor(d) && !member.declarations.some(ts.isSetAccessor)),
  );
}

function memberLines(checker, members, where, indent) {
  const lines = [];
  for (const m of [...members].filter((x) => !isHidden(x)).sort((a, b) => a.getName().localeCompare(b.getName()))) {
    const decl = m.valueDeclaration ?? m.declarations?.[0] ?? where;
    const type = checker.getTypeOfSymbolAtLocation(m, decl);
    const optional = (m.flags & ts.SymbolFlags.Optional) !== 0 ? '?' : '';
    if ((m.flags & ts.SymbolFlags.Method) !== 0) {
      for (const sig of type.getCallSignatures()) lines.push(`${indent}${m.getName()}${optional}${checker.signatureToString(sig, decl, FORMAT)}`);
    } else {
      lines.push(`${indent}${isReadonly(m) ? 'readonly ' : ''}${m.getName()}${optional}: ${checker.typeToString(type, decl, FORMAT)}`);
    }
  }
  return lines;
}

function describe(checker, exported) {
  const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const decl = sym.valueDeclaration ?? sym.declarations?.[0];
  const out = [];
  const name = exported.getName();
  if (sym.flags & ts.SymbolFlags.Class) {
    const classDecl = sym.declarations.find(ts.isClassDeclaration);
    const heritage = classDecl?.heritageClauses?.map((h) => ` ${h.getText()}`).join('') ?? '';
    out.push(`class ${name}${heritage}`);
    const staticType = checker.getTypeOfSymbolAtLocation(sym, decl);
    for (const sig of staticType.getConstructSignatures()) {
      if (sig.declaration && (ts.getCombinedModifierFlags(sig.declaration) & ts.ModifierFlags.Private) !== 0) continue;
      if (sig.declaration && ts.getJSDocTags(sig.declaration).some((t) => t.tagName.text === 'internal')) continue;
      out.push(`  new${checker.signatureToString(sig, decl, FORMAT)}`);
    }
    out.push(...memberLines(checker, checker.getPropertiesOfType(staticType), decl, '  static '));
    out.push(...memberLines(checker, checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(sym)), decl, '  '));
  } else if (sym.flags & ts.SymbolFlags.Function) {
    const type = checker.getTypeOfSymbolAtLocation(sym, decl);
    for (const sig of type.getCallSignatures()) out.push(`function ${name}${checker.signatureToString(sig, decl, FORMAT)}`);
  } else if (sym.flags & ts.SymbolFlags.Interface) {
    const type = checker.getDeclaredTypeOfSymbol(sym);
    const bases = (type.getBaseTypes?.() ?? []).map((b) => checker.typeToString(b, decl, FORMAT));
    out.push(`interface ${name}${bases.length ? ` extends ${bases.join(', ')}` : ''}`);
    for (const sig of type.getCallSignatures()) out.push(`  ${checker.signatureToString(sig, decl, FORMAT)}`);
    out.push(...memberLines(checker, checker.getPropertiesOfType(type), decl, '  '));
  } else if (sym.flags & ts.SymbolFlags.TypeAlias) {
    const type = checker.getDeclaredTypeOfSymbol(sym);
    out.push(`type ${name} = ${checker.typeToString(type, decl, FORMAT | ts.TypeFormatFlags.InTypeAlias)}`);
  } else if (sym.flags & ts.SymbolFlags.Variable) {
    out.push(`const ${name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(sym, decl), decl, FORMAT)}`);
  } else {
    out.push(`${ts.SymbolFlags[sym.flags] ?? sym.flags} ${name}`);
  }
  return out;
}

/** The report's text, built from the sources as they are now. */
export function buildApiReport() {
  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  const program = ts.createProgram(
    ENTRY_POINTS.map(([, src]) => join(ROOT, src)),
    { ...config.options, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const parts = [
    '# API report',
    '',
    'Generated by `npm run api-report` from the sources; `npm test` fails when they no longer match.',
    'Every name below is public: changing one is a change to the package contract (see docs/api.md).',
    '',
  ];
  for (const [entry, src] of ENTRY_POINTS) {
    const file = program.getSourceFile(join(ROOT, src));
    if (!file) throw new Error(`api report: ${src} is not in the program`);
    const moduleSym = checker.getSymbolAtLocation(file);
    const exports = checker.getExportsOfModule(moduleSym).sort((a, b) => a.getName().localeCompare(b.getName()));
    parts.push(`## ${entry}`, '', `${exports.length} names, from \`${src}\`.`, '', '```ts');
    for (const e of exports) parts.push(...describe(checker, e));
    parts.push('```', '');
  }
  return parts.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = buildApiReport();
  if (process.argv.includes('--check')) {
    const current = readFileSync(REPORT_PATH, 'utf8');
    if (current !== report) {
      console.error('docs/api-report.md is out of date: run npm run api-report and review the change in git diff');
      process.exit(1);
    }
  } else {
    writeFileSync(REPORT_PATH, report);
    console.log(`wrote ${REPORT_PATH}`);
  }
}
