# -*- encoding: utf-8 -*-
Gem::Specification.new do |s|
  s.name = 'rake'
  s.version = Gem::Version.new('12.3.3')
  s.license = 'MIT'
end
