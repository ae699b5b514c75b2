// The pages behind the mail links, in a real browser (Debian's Chromium driven by
// playwright-core): run by scripts/pages.sh, which starts the service and the SMTP sink.
//
// Environment:
//   PAGES_BASE       the service's base URL, also its APP_URL (required)
//   PAGES_MAIL_DIR   the SMTP sink's directory (required)
//   PAGES_SHOTS      where the screenshots go (default: target/pages-screenshots)
//   PAGES_NODE_DIR   the npm prefix holding playwright-core (default: target/pages-node)
//   PAGES_CHROMIUM   the browser (default: /usr/bin/chromium)
//   PAGES_MAIL_TIMEOUT  seconds to wait for a mail (default: 30)
//
// The walk: register; the verification mail's link opened twice (the GET does not consume
// the token; CSP, Referrer-Policy, Cache-Control checked), the form submitted, the address
// verified; a reset asked for; the reset link in a context with JavaScript disabled: two
// different passwords refused, then the reset; the new password logs in, the old one not;
// the used link refused. Screenshots for humans. Exit 1 on the first failure.

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

const base = (process.env.PAGES_BASE || '').replace(/\/+$/, '');
const mailDir = process.env.PAGES_MAIL_DIR || '';
const shots = resolve(process.env.PAGES_SHOTS || join(root, 'target/pages-screenshots'));
const nodeDir = resolve(process.env.PAGES_NODE_DIR || join(root, 'target/pages-node'));
const chromiumPath = process.env.PAGES_CHROMIUM || '/usr/bin/chromium';
const mailTimeout = Number(process.env.PAGES_MAIL_TIMEOUT || 30);
const sink = join(here, 'smtp_sink.py');

const EMAIL = 'ann@example.com';
const OLD_PASSWORD = 'old-password-1';
const NEW_PASSWORD = 'new-password-2';
const LAUNCH_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
];

class Failure extends Error {}

function check(cond, message) {
    if (!cond) throw new Failure(message);
}

const passed = [];
function ok(what) {
    passed.push(what);
    console.log(`pages: ok: ${what}`);
}

// playwright-core from the npm prefix pages.sh installs into (NODE_PATH does not apply to
// ESM imports, so resolve it from there explicitly).
function loadPlaywright() {
    try {
        return createRequire(join(nodeDir, 'package.json'))('playwright-core');
    } catch (e) {
        throw new Failure(`cannot load playwright-core from ${nodeDir} (npm install --prefix ` +
            `${nodeDir} playwright-core@1): ${e.message}`);
    }
}

// --- HTTP -----------------------------------------------------------------------------

async function api(method, path, body, token) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
        res = await fetch(base + path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(15000),
        });
    } catch (e) {
        throw new Failure(`${method} ${path}: ${e.cause?.message || e.message}`);
    }
    const text = await res.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = { unparsed: text.slice(0, 300) };
    }
    return { status: res.status, body: json };
}

async function expectApi(method, path, body, token, status, message) {
    const r = await api(method, path, body, token);
    check(r.status === status,
        `${method} ${path}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
    if (message !== undefined) {
        check(r.body.message === message,
            `${method} ${path}: expected message ${JSON.stringify(message)}, got ` +
            JSON.stringify(r.body));
    }
    return r.body;
}

async function emailVerified(token) {
    const body = await expectApi('GET', '/auth/account', undefined, token, 200);
    check(typeof body.data?.email_verified === 'boolean',
        `GET /auth/account: no boolean data.email_verified in ${JSON.stringify(body)}`);
    return body.data.email_verified;
}

async function login(password) {
    return api('POST', '/auth/login', { email: EMAIL, password });
}

// --- Mail -----------------------------------------------------------------------------

const run = promisify(execFile);

function escapeRe(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Waits for the mail with this subject to ann (scripts/smtp_sink.py --find-mail parses it
// with Python's email module: text/plain part, transfer encoding and charset undone) and
// returns { link, token } for `${base}${path}?token=T`.
async function mailLink(subject, path) {
    let body;
    try {
        const r = await run('python3', [sink, '--find-mail', mailDir, '--subject', subject,
            '--to', EMAIL, '--timeout', String(mailTimeout)]);
        body = r.stdout;
    } catch (e) {
        throw new Failure(`no mail "${subject}" to ${EMAIL}: ${(e.stderr || e.message).trim()}`);
    }
    const re = new RegExp(escapeRe(`${base}${path}?token=`) + '([A-Za-z0-9_-]+(?:=|%3[Dd]){0,2})');
    const m = body.match(re);
    check(m, `mail "${subject}": no link ${base}${path}?token=... in its text:\n${body}`);
    const token = decodeURIComponent(m[1]);
    check(/^[A-Za-z0-9_-]{16,}={0,2}$/.test(token),
        `mail "${subject}": the token ${JSON.stringify(token)} is not URL-safe base64`);
    return { link: m[0], token };
}

// --- Browser --------------------------------------------------------------------------

const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();

function checkHeaders(headers, what) {
    const csp = headers['content-security-policy'];
    check(csp, `${what}: no Content-Security-Policy header`);
    check(csp.includes("default-src 'none'"),
        `${what}: Content-Security-Policy lacks default-src 'none': ${csp}`);
    const referrer = headers['referrer-policy'];
    check(norm(referrer).toLowerCase() === 'no-referrer',
        `${what}: Referrer-Policy is ${JSON.stringify(referrer)}, not no-referrer`);
    const cache = headers['cache-control'];
    check(/(^|[\s,])no-store($|[\s,])/i.test(cache || ''),
        `${what}: Cache-Control ${JSON.stringify(cache)} lacks no-store`);
}

// Opens a mail link (GET): 200 (or, with `refusal`, a 4xx too), an HTML page, the
// security headers.
async function open(page, link, what, refusal = false) {
    const resp = await page.goto(link, { waitUntil: 'load' });
    check(resp, `${what}: no response`);
    const status = resp.status();
    check(status === 200 || (refusal && status >= 400 && status < 500),
        `${what}: GET answered ${status}`);
    const headers = await resp.allHeaders();
    check(/^text\/html/i.test(headers['content-type'] || ''),
        `${what}: Content-Type is ${JSON.stringify(headers['content-type'])}, not text/html`);
    checkHeaders(headers, what);
    return resp;
}

// The one form posting to `action`, with its hidden token equal to `token`.
async function theForm(page, action, token, what) {
    const form = page.locator(`form[action="${action}"]`);
    const n = await form.count();
    if (n !== 1) {
        const found = await page.locator('form').evaluateAll((fs) =>
            fs.map((f) => `<form method=${f.getAttribute('method')} action=${f.getAttribute('action')}>`));
        throw new Failure(`${what}: expected one <form action="${action}">, found ${n} ` +
            `(forms on the page: ${found.join(', ') || 'none'})`);
    }
    const method = (await form.getAttribute('method')) || 'get';
    check(method.toLowerCase() === 'post', `${what}: the form's method is ${method}, not post`);
    const hidden = form.locator('input[name="token"]');
    check((await hidden.count()) === 1, `${what}: the form has no single input name="token"`);
    check((await hidden.getAttribute('type')) === 'hidden', `${what}: the token input is not hidden`);
    const value = await hidden.getAttribute('value');
    check(value === token, `${what}: the token input holds ${JSON.stringify(value)}, not the mail's token`);
    const button = form.locator('button:not([type]), button[type="submit"]');
    check((await button.count()) >= 1, `${what}: the form has no submit <button>`);
    return { form, button: button.first() };
}

async function passwordInput(form, id, what) {
    const input = form.locator(`input#${id}`);
    check((await input.count()) === 1, `${what}: no <input id="${id}"> in the form`);
    check((await input.getAttribute('type')) === 'password', `${what}: #${id} is not type=password`);
    check((await input.getAttribute('name')) === id, `${what}: #${id} has not name="${id}"`);
    return input;
}

// Clicks the submit button and waits for the new document to load; returns the POST's
// response (its status, for the summary).
async function submit(page, button, action) {
    const posted = page.waitForResponse((r) =>
        r.request().method() === 'POST' && new URL(r.url()).pathname === action);
    const loaded = page.waitForEvent('load');
    await button.click();
    const resp = await posted;
    await loaded;
    return resp;
}

async function resultText(page, what) {
    const result = page.locator('#result');
    check((await result.count()) === 1, `${what}: no element #result on the page`);
    return norm(await result.textContent());
}

async function expectResult(page, text, what) {
    const got = await resultText(page, what);
    check(got === text, `${what}: #result says ${JSON.stringify(got)}, not ${JSON.stringify(text)}`);
}

async function shot(page, name) {
    const path = join(shots, name);
    await page.screenshot({ path, fullPage: true });
    return path;
}

// --- The walk -------------------------------------------------------------------------

let current = null; // the page to show on failure

async function walk(browser) {
    // a. Register; the verification mail.
    const registered = await expectApi('POST', '/auth/register',
        { username: 'ann', email: EMAIL, password: OLD_PASSWORD }, undefined, 201);
    const firstToken = registered.auth_token;
    check(firstToken, `POST /auth/register: no auth_token in ${JSON.stringify(registered)}`);
    check(!(await emailVerified(firstToken)), 'the address is verified before any link was opened');
    ok('registered ann (201), not yet verified');
    const verify = await mailLink('Verify your email address', '/verify-email');
    ok(`mail "Verify your email address" to ${EMAIL} has ${base}/verify-email?token=...`);

    // b. The verification page, opened twice before the submit.
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    current = page;
    await open(page, verify.link, 'GET /verify-email (first load)');
    await theForm(page, '/verify-email', verify.token, 'GET /verify-email (first load)');
    await shot(page, '01-verify-form.png');
    await open(page, verify.link, 'GET /verify-email (second load)');
    const { button } = await theForm(page, '/verify-email', verify.token, 'GET /verify-email (second load)');
    check(!(await emailVerified(firstToken)), 'opening the verification link verified the address (a GET must not)');
    ok("verification page loaded twice: form with the hidden token; CSP default-src 'none', " +
        'Referrer-Policy no-referrer, Cache-Control no-store; the GETs verified nothing');
    const posted = await submit(page, button, '/verify-email');
    await expectResult(page, 'Email verified.', 'POST /verify-email');
    await shot(page, '02-verify-result.png');
    ok(`submitting it (POST ${posted.status()}) shows "Email verified."`);
    const session = await expectApi('POST', '/auth/login', { email: EMAIL, password: OLD_PASSWORD },
        undefined, 200, 'Successfully logged in.');
    check(session.auth_token, `POST /auth/login: no auth_token in ${JSON.stringify(session)}`);
    check(await emailVerified(session.auth_token), 'GET /auth/account: data.email_verified is not true after the verification');
    ok('GET /auth/account: data.email_verified is true');
    await ctx.close();

    // c. Forgotten password; the reset page without JavaScript.
    const FORGOT = 'If that email is registered, a reset link has been sent.';
    await expectApi('POST', '/auth/password/forgot', { email: EMAIL }, undefined, 202, FORGOT);
    await expectApi('POST', '/auth/password/forgot', { email: 'nobody@example.com' }, undefined, 202, FORGOT);
    ok('POST /auth/password/forgot: 202 with the same message for ann and for an unknown address');
    const reset = await mailLink('Reset your password', '/reset-password');
    ok(`mail "Reset your password" to ${EMAIL} has ${base}/reset-password?token=...`);

    const noJs = await browser.newContext({ javaScriptEnabled: false });
    const rpage = await noJs.newPage();
    current = rpage;
    await rpage.goto('data:text/html,<title>off</title><script>document.title="on"</script>');
    check((await rpage.title()) === 'off', 'the context meant to have JavaScript disabled ran a script');

    await open(rpage, reset.link, 'GET /reset-password');
    let f = await theForm(rpage, '/reset-password', reset.token, 'GET /reset-password');
    let password = await passwordInput(f.form, 'password', 'GET /reset-password');
    let confirm = await passwordInput(f.form, 'confirm', 'GET /reset-password');
    await shot(rpage, '03-reset-form.png');
    await password.fill(NEW_PASSWORD);
    await confirm.fill('another-password-3');
    let resp = await submit(rpage, f.button, '/reset-password');
    await expectResult(rpage, 'The two passwords differ.', 'POST /reset-password (passwords differ)');
    await shot(rpage, '04-reset-differ.png');
    f = await theForm(rpage, '/reset-password', reset.token, 'POST /reset-password (passwords differ)');
    password = await passwordInput(f.form, 'password', 'POST /reset-password (passwords differ)');
    confirm = await passwordInput(f.form, 'confirm', 'POST /reset-password (passwords differ)');
    ok(`JavaScript off: reset page with the form (CSP, no-referrer, no-store); two different ` +
        `passwords (POST ${resp.status()}) show "The two passwords differ." and the form again`);
    await password.fill(NEW_PASSWORD);
    await confirm.fill(NEW_PASSWORD);
    resp = await submit(rpage, f.button, '/reset-password');
    await expectResult(rpage, 'Password has been reset.', 'POST /reset-password');
    await shot(rpage, '05-reset-result.png');
    ok(`the same password twice (POST ${resp.status()}) shows "Password has been reset."`);

    // d. The new password logs in, the old one not; the link is spent.
    await expectApi('POST', '/auth/login', { email: EMAIL, password: NEW_PASSWORD }, undefined, 200,
        'Successfully logged in.');
    const old = await login(OLD_PASSWORD);
    check(old.status === 404, `POST /auth/login with the old password: expected 404, got ${old.status} ` +
        JSON.stringify(old.body));
    ok('login with the new password: 200 "Successfully logged in."; with the old one: 404');

    const again = await noJs.newPage();
    current = again;
    await open(again, reset.link, 'GET /reset-password (used link)', true);
    if ((await again.locator('form[action="/reset-password"]').count()) === 0) {
        // The page may refuse a spent token already on GET.
        await expectResult(again, 'Invalid or expired token.', 'GET /reset-password (used link, no form)');
    } else {
        f = await theForm(again, '/reset-password', reset.token, 'GET /reset-password (used link)');
        await (await passwordInput(f.form, 'password', 'GET /reset-password (used link)')).fill('third-password-4');
        await (await passwordInput(f.form, 'confirm', 'GET /reset-password (used link)')).fill('third-password-4');
        resp = await submit(again, f.button, '/reset-password');
        await expectResult(again, 'Invalid or expired token.', 'POST /reset-password (used link)');
    }
    await shot(again, '06-reset-used.png');
    await expectApi('POST', '/auth/login', { email: EMAIL, password: NEW_PASSWORD }, undefined, 200,
        'Successfully logged in.');
    ok('the used reset link again: "Invalid or expired token."; the password is unchanged');
    await noJs.close();
}

async function main() {
    check(base, 'PAGES_BASE is not set');
    check(mailDir, 'PAGES_MAIL_DIR is not set');
    mkdirSync(shots, { recursive: true });
    const { chromium } = loadPlaywright();
    const browser = await chromium.launch({
        executablePath: chromiumPath,
        args: LAUNCH_ARGS,
        timeout: 60000,
    });
    const version = browser.version();
    try {
        await walk(browser);
    } catch (e) {
        if (current && !current.isClosed()) {
            try {
                console.error(`pages: the page at failure: ${current.url()}`);
                const html = await current.content();
                console.error(html.length > 3000 ? html.slice(0, 3000) + '\n[...]' : html);
                console.error(`pages: screenshot ${await shot(current, 'failure.png')}`);
            } catch (inner) {
                console.error(`pages: (could not capture the page: ${inner.message})`);
            }
        }
        throw e;
    } finally {
        await browser.close();
    }
    console.log(`pages: ${passed.length} steps passed in Chromium ${version}; ` +
        `screenshots in ${shots}`);
}

try {
    await main();
} catch (e) {
    console.error(`pages: FAIL: ${e instanceof Failure ? e.message : e.stack || e}`);
    process.exit(1);
}
