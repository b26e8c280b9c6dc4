import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';
import { type UiProcess, startUi } from '../helpers/ui-process.js';

// Screenshots are kept as test artifacts (gitignored) for a person, or CI, to look at.
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let ui: UiProcess;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  dir = await tempDir('dbb-ui-');
  // TZ: the schedule's 02:00 is in the machine's zone, and the page shows UTC.
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: join(dir.path, 'dbbackup.log'), TZ: 'UTC' };
  createNastyDatabase(join(dir.path, 'app.db'), { bigText: 2 << 20 });
  await writeFile(
    join(dir.path, 'dbbackup.yaml'),
    `sources:\n  main: { engine: sqlite, database: ${join(dir.path, 'app.db')} }\ntargets:\n  local: { url: ${join(dir.path, 'repo')} }\n` +
      `backups:\n  main: { targets: [local] }\nschedules:\n  - { name: main-nightly, cron: "0 2 * * *", task: backup, source: main }\n`,
  );
  // A catalog filled by real backups, as a user's would be.
  for (let i = 0; i < 2; i++) {
    const b = await runCli(['backup', '--config', 'dbbackup.yaml', '--source', 'main'], { env, cwd: dir.path });
    expect(b.code, b.stderr).toBe(0);
  }
  await mkdir(ARTIFACTS, { recursive: true });
  [ui, browser] = await Promise.all([
    startUi(['--config', 'dbbackup.yaml', '--listen', '127.0.0.1:0'], { env, cwd: dir.path }),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true }),
  ]);
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  if (ui) expect(await ui.stop()).toBe(0);
  await dir?.cleanup();
});

describe('dbbackup ui in a real browser (chromium)', () => {
  it('refuses the API without the token, and signs the page in with it', async () => {
    const refused = await fetch(`${ui.origin}/api/overview`);
    expect(refused.status).toBe(401);
    expect(await page.goto(`${ui.origin}/`).then((r) => r?.status())).toBe(401);
    await expect(page.locator('form[action="/login"]').count()).resolves.toBe(1);

    await page.goto(ui.url);
    // The token left the address bar (a redirect), and the cookie the browser keeps is HttpOnly and SameSite=Strict.
    expect(page.url()).toBe(`${ui.origin}/`);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'dbbackup_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toBe(new URL(ui.url).searchParams.get('token'));
  });

  it('shows the sources with their last backup, next run and windows, and the charts', async () => {
    const row = page.locator('#overview table.sources > tbody > tr', { hasText: 'main' });
    await row.waitFor();
    await expect(row.locator('td').nth(1).textContent()).resolves.toBe('sqlite');
    await expect(row.locator('td').nth(2).textContent()).resolves.toMatch(/^\d{8}T\d{6}Z-full-[a-z0-9]{4}$/);
    await expect(row.locator('td').nth(4).textContent()).resolves.toMatch(/ 02:00:00 UTC$/);
    await page.screenshot({ path: join(ARTIFACTS, '1-overview.png'), fullPage: true });

    await row.locator('a', { hasText: 'main' }).click();
    await page.locator('#source table.timeline > tbody > tr').nth(1).waitFor();
    expect(await page.locator('#source table.timeline > tbody > tr').count()).toBe(2);
    // uPlot draws each chart into a canvas: size and duration over time.
    await page.locator('figure.chart canvas').nth(1).waitFor();
    expect(await page.locator('figure.chart .u-title').allTextContents()).toEqual(['Stored size', 'Duration']);
    await page.screenshot({ path: join(ARTIFACTS, '2-source.png'), fullPage: true });

    await page.locator('header nav a', { hasText: 'Storage' }).click();
    await page.locator('#storage figure.chart canvas').waitFor();
    await expect(page.locator('#storage figure.chart .u-title').allTextContents()).resolves.toEqual([`Stored in ${join(dir.path, 'repo')}`]);
    await page.locator('header nav a', { hasText: 'Schedules' }).click();
    await page.locator('#schedules td', { hasText: 'main-nightly' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, '2-schedules.png'), fullPage: true });
  });

  it('runs a backup from the page after a confirmation, shows its progress and its end', async () => {
    await page.goto(`${ui.origin}/#/`);
    // Every text the live line shows is recorded, so the test can check the progress figures after the fact.
    // (A string: this runs in the page, whose DOM types the test's compiler does not load.)
    await page.evaluate(`(() => {
      const live = document.getElementById('live');
      const seen = (window.seen = []);
      new MutationObserver(() => seen.push((live.textContent || '').trim())).observe(live, { childList: true, characterData: true, subtree: true });
    })()`);
    await page.locator('body[data-live="open"]').waitFor();
    await page.locator('button[data-backup="main"]').click();
    await expect(page.locator('#confirm-text').textContent()).resolves.toMatch(/^Run a backup of main now/);
    await page.locator('#confirm-ok').click();
    await page.locator('#job-list li[data-action="backup"][data-state="succeeded"]').waitFor({ timeout: 60_000 });
    const summary = await page.locator('#job-list li[data-action="backup"]').textContent();
    const id = /backup (\d{8}T\d{6}Z-full-[a-z0-9]{4})/.exec(summary ?? '')?.[1];
    expect(id, summary ?? '').toBeDefined();
    const seen = (await page.evaluate('window.seen')) as string[];
    expect(seen.some((line) => /^backup main: .* at .*\/s/.test(line)), seen.join('\n')).toBe(true);
    // The overview re-reads the catalog: the new backup is the last success.
    await page.locator('#overview table.sources > tbody > tr td a', { hasText: id! }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, '3-after-backup.png'), fullPage: true });

    await page.locator('#overview table.sources > tbody > tr td a', { hasText: id! }).click();
    await page.locator('#manifest h2', { hasText: 'Parts' }).waitFor();
    await expect(page.locator('#restore-command').textContent()).resolves.toMatch(new RegExp(`^dbbackup restore --from \\S+repo --backup ${id} --source main --config \\S+dbbackup\\.yaml --data-dir \\S+$`));

    // Pin from the page: the manifest view re-reads the backup and shows the pin.
    await page.locator('#manifest button', { hasText: /^Pin$/ }).click();
    await page.locator('#confirm-ok').click();
    await page.locator('#manifest td', { hasText: /^since \d{4}-\d\d-\d\d / }).waitFor();
    // The restore's --dry-run output, from the exact command shown, run by the CLI.
    await page.locator('#manifest button', { hasText: 'Show --dry-run output' }).click();
    await page.locator('#confirm-ok').click();
    await page.locator('#dry-run:not([hidden])').waitFor({ timeout: 60_000 });
    await expect(page.locator('#dry-run').textContent()).resolves.toMatch(new RegExp(`^Dry run: nothing was changed\\.\\nBackup ${id} \\(sqlite, full,`));
    await page.screenshot({ path: join(ARTIFACTS, '4-manifest.png'), fullPage: true });
  });

  it('logs every request without the token', () => {
    const token = new URL(ui.url).searchParams.get('token')!;
    expect(ui.stderr()).toMatch(/"path":"\/api\/overview","status":401/);
    expect(ui.stderr()).toMatch(/"msg":"action finished"/);
    expect(ui.stderr()).not.toContain(token);
  });
});
