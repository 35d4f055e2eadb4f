// Every page of the console, in menu order. A page names the actions its API calls need
// (from the permission table, see permissions.json); the menu shows it only to roles and
// plans that allow all of them, and opening it otherwise says why instead of calling the API
// (which would refuse anyway).
//
// Adding a page for a new API (OEE, work orders, alarm rules, webhooks, custom orders, yield,
// sector figures…): write `pages/<name>.js` exporting `render(main, ctx)` (which may return a
// function that stops its timers), add a row here with the action its calls need, add its
// `nav.<id>` title to both catalogues in `../i18n/`, and list the file in `assets.rs`.

export const PAGES = [
  {
    id: 'overview', path: '/', menu: true,
    needs: ['read_plant_model', 'read_telemetry'],
    load: () => import('./pages/overview.js'),
  },
  {
    id: 'machine', path: '/machines/:id', menu: false,
    needs: ['read_plant_model', 'read_telemetry'],
    load: () => import('./pages/machine.js'),
  },
  {
    id: 'alarms', path: '/alarms', menu: true,
    needs: ['read_alarms', 'read_plant_model'],
    load: () => import('./pages/alarms.js'),
  },
  {
    id: 'oee', path: '/mes/oee', menu: true,
    needs: ['read_mes', 'read_plant_model'],
    load: () => import('./pages/oee.js'),
  },
  {
    id: 'downtime', path: '/mes/downtime', menu: true,
    needs: ['read_mes', 'read_plant_model'],
    load: () => import('./pages/downtime.js'),
  },
  {
    id: 'workOrders', path: '/mes/work-orders', menu: true,
    needs: ['read_mes', 'read_plant_model'],
    load: () => import('./pages/workorders.js'),
  },
  {
    id: 'yield', path: '/quality/yield', menu: true,
    needs: ['read_mes', 'read_plant_model'],
    load: () => import('./pages/yield.js'),
  },
  {
    id: 'spc', path: '/quality/spc', menu: true,
    needs: ['read_mes', 'read_plant_model'],
    load: () => import('./pages/spc.js'),
  },
  {
    id: 'orders', path: '/orders', menu: true,
    needs: ['read_custom_orders'],
    load: () => import('./pages/orders.js'),
  },
  {
    id: 'rules', path: '/alarm-rules', menu: true,
    needs: ['read_alarms', 'read_plant_model'],
    load: () => import('./pages/rules.js'),
  },
  {
    id: 'bureau', path: '/bureau', menu: true,
    needs: ['read_sector_aggregates'],
    load: () => import('./pages/bureau.js'),
  },
  {
    id: 'users', path: '/admin/users', menu: true, admin: true,
    needs: ['manage_users'],
    load: () => import('./pages/users.js'),
  },
  {
    id: 'keys', path: '/admin/keys', menu: true, admin: true,
    needs: ['manage_api_keys'],
    load: () => import('./pages/keys.js'),
  },
  {
    id: 'webhooks', path: '/admin/webhooks', menu: true, admin: true,
    needs: ['manage_webhooks'],
    load: () => import('./pages/webhooks.js'),
  },
  {
    id: 'audit', path: '/admin/audit', menu: true, admin: true,
    needs: ['read_audit_log'],
    load: () => import('./pages/audit.js'),
  },
  {
    id: 'usage', path: '/admin/usage', menu: true, admin: true,
    needs: ['read_usage'],
    load: () => import('./pages/usage.js'),
  },
];

/** Shown to accounts that may open none of the pages above. */
export const NOTHING = { id: 'nothing', path: '/', needs: [], load: () => import('./pages/nothing.js') };
