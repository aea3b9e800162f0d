import type { Role } from '../db/schema.js'

/** The signed-in account behind a request, as loaded from the database for this request. */
export interface Principal {
  userId: string
  role: Role
  displayName: string
  compoundId: string | null
  ownerId: string | null
  jurisdictionId: string | null
  /** jurisdiction level of a staff account's scope */
  scopeLevel: 'city' | 'district' | 'street' | 'community' | null
  jti: string
  exp: number
}

export const STAFF_ROLES: Role[] = ['street', 'district', 'residents', 'city']
export const isStaff = (role: Role) => STAFF_ROLES.includes(role)

export const ROLE_LABEL: Record<Role, string> = {
  owner: '业主',
  committee: '业委会委员',
  street: '街道办工作人员',
  district: '区住建部门工作人员',
  residents: '社区居委会工作人员',
  city: '市级管理员',
}
