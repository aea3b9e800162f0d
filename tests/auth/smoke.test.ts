import t from 'tap'
import { makeApp, seedFixture, login, bearer, pageLogin } from '../helpers/app.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)

t.test('street office signs in and sees only its compound', async (t) => {
  const token = await login(ta.app, fx.a.phones.street!)
  const res = await ta.app.inject({ url: '/api/compounds', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.same(res.json().items.map((c: any) => c.id), [fx.a.compoundId])
})

t.test('page login and home page', async (t) => {
  const cookie = await pageLogin(ta.app, fx.a.phones.owner!)
  const res = await ta.app.inject({ url: '/', headers: { cookie } })
  t.equal(res.statusCode, 200)
  t.match(res.body, '我的小区')
})
